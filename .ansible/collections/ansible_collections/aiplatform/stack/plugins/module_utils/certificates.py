# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The certificates the proxy serves, read the way a client sees them: a TLS handshake with the hostname (SNI).

Runs on the host with the standard library only (no `cryptography` on targets): the expiry is read from the DER
certificate by a small walk of its ASN.1 (Certificate > tbsCertificate > validity > notAfter).
"""
from __future__ import annotations

import datetime as dt
import socket
import ssl

WARN = "WARN"
OK = "OK"
FAIL = "FAIL"


class CertificateError(ValueError):
    """Bytes that are not the DER certificate this walk understands."""


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise CertificateError("truncated DER element")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateError("truncated DER element")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out, pos = [], start
    while pos < end:
        tag, s, e = _tlv(data, pos)
        out.append((tag, s, e))
        pos = e
    return out


def _time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ (RFC 5280: years 50-99 are 19xx)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise CertificateError(f"validity time of unknown type {tag:#x}")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def validity(der: bytes) -> tuple[dt.datetime, dt.datetime]:
    """(notBefore, notAfter) of a DER certificate, in UTC."""
    tag, s, e = _tlv(der, 0)
    if tag != 0x30:
        raise CertificateError("not a DER certificate")
    parts = _children(der, s, e)
    if not parts:
        raise CertificateError("an empty DER sequence, not a certificate")
    ts, te = parts[0][1:]
    fields = _children(der, ts, te)
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity
    if len(fields) < 4 or fields[3][0] != 0x30:
        raise CertificateError("no validity in the certificate")
    times = _children(der, fields[3][1], fields[3][2])
    if len(times) != 2:
        raise CertificateError("validity is not two times")
    return tuple(_time(t, der[a:b]) for t, a, b in times)  # type: ignore[return-value]


def peer_certificate(address: str, port: int, hostname: str, timeout: float = 5.0) -> bytes:
    """The DER certificate served for `hostname` (SNI) at address:port. Not verified: its dates are wanted, also
    of a certificate no client would accept."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # its dates are read, it is not trusted
    with socket.create_connection((address, int(port)), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("the server sent no certificate")
    return der


def assess(hostname: str, not_after: dt.datetime | None, now: dt.datetime, warn_days: int,
           error: str | None = None) -> dict:
    """{hostname, level, days_left, not_after, message}: WARN under `warn_days` days left (or expired), FAIL when
    no certificate could be read."""
    if not_after is None:
        return {"hostname": hostname, "level": FAIL, "days_left": None, "not_after": None,
                "message": f"certificate of {hostname}: none read ({error or 'unknown error'})"}
    left = not_after - now
    days = left.total_seconds() / 86400
    stamp = not_after.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        level, text = WARN, f"certificate of {hostname} EXPIRED on {stamp}"
    elif days < warn_days:
        level, text = WARN, (f"certificate of {hostname} expires in {days:.1f} days ({stamp}), under {warn_days}; "
                             f"renewal is overdue: see the proxy's log (docker logs aiplatform-proxy)")
    else:
        level, text = OK, f"certificate of {hostname} valid until {stamp} ({int(days)} days)"
    return {"hostname": hostname, "level": level, "days_left": round(days, 2), "not_after": not_after.isoformat(),
            "message": text}


def check(address: str, port: int, hostnames: list[str], warn_days: int, now: dt.datetime | None = None,
          fetch=peer_certificate) -> list[dict]:
    """One assessment per hostname, each from the certificate the proxy serves for it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    out = []
    for name in hostnames:
        try:
            out.append(assess(name, validity(fetch(address, port, name))[1], now, warn_days))
        except (OSError, ssl.SSLError, CertificateError, ValueError) as exc:
            out.append(assess(name, None, now, warn_days, error=str(exc) or type(exc).__name__))
    return out

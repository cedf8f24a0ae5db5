"""Print the installed open-webui's requirements for pip, without its local-model stack, with its postgres extra.

The local-model stack (torch, which PyPI serves only with its CUDA libraries, and what needs it) makes the
environment 7.5 GB instead of 1.5 GB; Open WebUI imports it only for local embeddings, reranking and speech.
"""
import re
from importlib.metadata import requires

LOCAL_MODELS = {"accelerate", "einops", "faster-whisper", "sentence-transformers", "transformers"}
EXTRAS = {"postgres"}  # psycopg2 for a postgresql:// DATABASE_URL, pgvector: as upstream's image has them

for requirement in requires("open-webui"):
    spec, _, marker = requirement.partition(";")
    name = re.match(r"[A-Za-z0-9._-]+", spec).group(0).lower().replace("_", "-")
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if name in LOCAL_MODELS or (extra and extra.group(1) not in EXTRAS):
        continue
    print(spec.strip())

"""``python -m shared.contracts [DIR]``: write the JSON Schemas and the AsyncAPI document (default: docs/)."""

import sys
from pathlib import Path

from shared.contracts import write_docs

for path in write_docs(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
    print(path)

"""``python -m shared.contracts [DIR]``: write the JSON Schemas and the AsyncAPI document (default: docs/).

``python -m shared.contracts snapshot``: record the current schemas in ``shared/contracts/snapshot.json`` (after an
intended change: a new version, an optional field); ``python -m shared.contracts check``: list the breaking changes
from the snapshot that keep their version (exit status 1 if any).
"""

import sys
from pathlib import Path

from shared.contracts import compat, write_docs

command = sys.argv[1] if len(sys.argv) > 1 else "docs"
if command == "snapshot":
    print(compat.write())
elif command == "check":
    problems = compat.breaking_changes(compat.load(), compat.current())
    print("\n".join(problems) or "no breaking change")
    sys.exit(1 if problems else 0)
else:
    for path in write_docs(Path(command)):
        print(path)

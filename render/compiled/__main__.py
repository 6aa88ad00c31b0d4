"""python -m dbstack.render.compiled TEMPLATES FOLDER: compile every template into its module (see __init__)."""

from __future__ import annotations

import sys
from pathlib import Path

from dbstack.render.compiled import write_modules

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m dbstack.render.compiled render/templates render/compiled")
    for written in write_modules(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"wrote {written}")

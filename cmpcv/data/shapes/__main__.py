"""``python -m cmpcv.data.shapes``: see :mod:`cmpcv.data.shapes.cli`."""
from cmpcv.data.shapes.cli import main

main()

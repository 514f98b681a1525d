"""DAVIS-2017 (and Ref-DAVIS17): on-disk layout, palette PNG masks, image sets (``format``)."""

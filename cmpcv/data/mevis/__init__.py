"""MeViS: on-disk layout, ``meta_expressions.json`` and ``mask_dict.json`` (``format``)."""

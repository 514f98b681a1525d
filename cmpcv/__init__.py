"""cmpcv: Cross-Modal Progressive Comprehension (CMPC-V) for referring video object segmentation.

Data flows left to right::

    video -> clip (cmpcv.data) -> backbone levels -> CMPC-I/V -> TGFE -> head (cmpcv.models)
          -> predictions (cmpcv.engine) -> metrics (cmpcv.metrics) -> tables (cmpcv.results)
"""

__version__ = "0.1.0"

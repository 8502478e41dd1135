"""AETHER annotate: Synthetic 4D clips and the four-stage camera annotation pipeline.

``aether.annotate.synthetic`` renders clips with exact ground truth; ``aether.annotate.pipeline`` annotates
a clip (``annotate_clip``), ``aether.annotate.batch`` a folder (``annotate_dir``), and
``aether.annotate.evaluation`` scores them. The stage objects that ``aether_annotation_stages`` plugins build
are documented in :mod:`aether.annotate.stages`."""

from importlib.metadata import version as _version

__version__ = _version("aether-annotate")

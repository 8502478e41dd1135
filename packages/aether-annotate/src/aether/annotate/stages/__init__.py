"""The four stages of the camera annotation pipeline (the aether-annotate README), each a plugin built by name:
``masking.labels`` / ``masking.motion``, ``slicing.flow``, ``coarse.pnp``, ``refine.bundle``.

Stage objects are callables: masking ``(clip) -> (mask (F, H, W) bool, info)``; slicing
``(frames) -> SlicePlan``; coarse ``(frames, K or None, prior K or None) -> Cameras``; refine
``(frames, cameras, fix_intrinsics) -> Cameras`` (types in :mod:`aether.annotate.stages.base`)."""

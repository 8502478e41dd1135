"""Triton source of the fused RoPE flash attention (forward, backward) and of its RoPE pass, imported
only at the first launch so that importing aether.core never imports Triton (CPU installs work without
it). The interpreter is chosen by ``TRITON_INTERPRET=1`` set before anything imports ``triton`` (see
``kernels.interpreter``).

Layouts: one program works on one ``(batch, head)`` slice of contiguous ``(B, heads, N, D)`` tensors;
``cos, sin (N - text_len, D)`` fp32; ``lse`` and ``delta (B * heads, N)`` fp32. Softmax runs in base 2:
``lse`` is ``log2(sum(exp2(s * scale * log2(e))))`` per query row. Every loop runs over whole tiles
without bounds checks and ends with one masked tile for the remainder.
"""

import triton
import triton.language as tl


@triton.jit
def _rope_rows(x, cos_ptr, sin_ptr, offs_n, n_tokens, text_len, INVERSE: tl.constexpr,
               BLOCK: tl.constexpr, D: tl.constexpr):
    """Rotate the fp32 tile ``x (BLOCK, D)`` of rows ``offs_n`` (rows >= text_len are video tokens).

    Interleaved pairs, as diffusers does: ``r[2i] = x[2i] c[2i] - x[2i+1] s[2i]``,
    ``r[2i+1] = x[2i+1] c[2i+1] + x[2i] s[2i+1]``. ``INVERSE`` applies the transpose (the backward of
    the rotation), which equals the inverse where cos/sin come in equal pairs as RoPE's do.
    """
    offs_d = tl.arange(0, D)
    vid = offs_n - text_len
    is_vid = (vid >= 0) & (offs_n < n_tokens)
    trig = tl.maximum(vid, 0)[:, None] * D + offs_d[None, :]
    cos_e, cos_o = tl.split(tl.reshape(tl.load(cos_ptr + trig, mask=is_vid[:, None], other=1.0), (BLOCK, D // 2, 2)))
    sin_e, sin_o = tl.split(tl.reshape(tl.load(sin_ptr + trig, mask=is_vid[:, None], other=0.0), (BLOCK, D // 2, 2)))
    x_e, x_o = tl.split(tl.reshape(x, (BLOCK, D // 2, 2)))
    if INVERSE:
        r_e = x_e * cos_e + x_o * sin_o
        r_o = x_o * cos_o - x_e * sin_e
    else:
        r_e = x_e * cos_e - x_o * sin_e
        r_o = x_o * cos_o + x_e * sin_o
    return tl.reshape(tl.join(r_e, r_o), (BLOCK, D))


@triton.jit
def _load_rows(base, offs_n, n_tokens, D: tl.constexpr, MASK: tl.constexpr):
    """Rows ``offs_n`` of a ``(N, D)`` slice; with ``MASK``, zero beyond ``n_tokens``."""
    ptrs = base + offs_n[:, None] * D + tl.arange(0, D)[None, :]
    if MASK:
        return tl.load(ptrs, mask=(offs_n < n_tokens)[:, None], other=0.0)
    return tl.load(ptrs)


@triton.jit
def _store_rows(base, offs_n, n_tokens, value, D: tl.constexpr):
    """Store ``value (BLOCK, D)`` into rows ``offs_n`` of a ``(N, D)`` slice, in its dtype, rows < N only."""
    ptrs = base + offs_n[:, None] * D + tl.arange(0, D)[None, :]
    tl.store(ptrs, value.to(base.dtype.element_ty), mask=(offs_n < n_tokens)[:, None])


@triton.jit
def _load_row_stats(lse_ptr, delta_ptr, offs_m, n_tokens, MASK: tl.constexpr):
    """``lse`` and ``delta`` of rows ``offs_m``; with ``MASK``, rows beyond N get lse = +inf (their
    probabilities become 0) and delta = 0."""
    if MASK:
        ok = offs_m < n_tokens
        return (tl.load(lse_ptr + offs_m, mask=ok, other=float("inf")),
                tl.load(delta_ptr + offs_m, mask=ok, other=0.0))
    return tl.load(lse_ptr + offs_m), tl.load(delta_ptr + offs_m)


@triton.jit
def rope_kernel(x_ptr, cos_ptr, sin_ptr, out_ptr, n_tokens, text_len, INVERSE: tl.constexpr,
                BLOCK: tl.constexpr, D: tl.constexpr):
    """Rotate ``BLOCK`` rows of one (batch, head) slice into ``out`` (may alias ``x``)."""
    head = tl.program_id(1).to(tl.int64) * n_tokens * D
    offs_n = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = _load_rows(x_ptr + head, offs_n, n_tokens, D, True).to(tl.float32)
    _store_rows(out_ptr + head, offs_n, n_tokens,
                _rope_rows(x, cos_ptr, sin_ptr, offs_n, n_tokens, text_len, INVERSE, BLOCK, D), D)


@triton.jit
def _tile_logits(q, k_ptr, v_ptr, start, n_tokens, qk_scale, D: tl.constexpr, BLOCK_N: tl.constexpr,
                 PRECISION: tl.constexpr, MASK: tl.constexpr):
    """Key/value tile ``start`` and the base-2 logits ``(BLOCK_M, BLOCK_N)`` of ``q`` against it
    (-inf beyond N)."""
    offs_n = start + tl.arange(0, BLOCK_N)
    k = _load_rows(k_ptr, offs_n, n_tokens, D, MASK)
    v = _load_rows(v_ptr, offs_n, n_tokens, D, MASK)
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
    if MASK:
        s = tl.where((offs_n < n_tokens)[None, :], s, float("-inf"))
    return s, k, v


@triton.jit
def _fwd_tile(q, k_ptr, v_ptr, start, n_tokens, qk_scale, m_i, l_i, acc, D: tl.constexpr, BLOCK_N: tl.constexpr,
              PRECISION: tl.constexpr, MASK: tl.constexpr):
    """One K/V tile of the online softmax: the running max, sum and output accumulator, updated."""
    s, k, v = _tile_logits(q, k_ptr, v_ptr, start, n_tokens, qk_scale, D, BLOCK_N, PRECISION, MASK)
    m_new = tl.maximum(m_i, tl.max(s, 1))
    p = tl.exp2(s - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    return m_new, l_i * alpha + tl.sum(p, 1), acc


@triton.jit
def rope_flash_fwd(q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, o_ptr, lse_ptr, n_tokens, text_len, scale,
                   D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr):
    """One ``(BLOCK_M, D)`` output tile of one (batch, head): online softmax over K/V tiles.

    q is rotated as it is loaded; k arrives rotated (one memory-bound pass before: rotating each K tile
    inside the loop keeps its loads from feeding the matrix units directly, 2-3x slower on an H200).
    """
    bh = tl.program_id(1)
    head = bh.to(tl.int64) * n_tokens * D
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    q = _load_rows(q_ptr + head, offs_m, n_tokens, D, True).to(tl.float32)
    q = _rope_rows(q, cos_ptr, sin_ptr, offs_m, n_tokens, text_len, False, BLOCK_M, D).to(q_ptr.dtype.element_ty)
    # dots take the input dtype and accumulate in fp32; the scale (with log2(e)) multiplies the fp32
    # logits, so the backward's recomputed logits equal these exactly
    qk_scale = scale * 1.4426950408889634
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    whole = n_tokens // BLOCK_N * BLOCK_N
    for start in range(0, whole, BLOCK_N):
        m_i, l_i, acc = _fwd_tile(q, k_ptr + head, v_ptr + head, start, n_tokens, qk_scale, m_i, l_i, acc,
                                  D, BLOCK_N, PRECISION, False)
    if whole < n_tokens:
        m_i, l_i, acc = _fwd_tile(q, k_ptr + head, v_ptr + head, whole, n_tokens, qk_scale, m_i, l_i, acc,
                                  D, BLOCK_N, PRECISION, True)
    _store_rows(o_ptr + head, offs_m, n_tokens, acc / l_i[:, None], D)
    tl.store(lse_ptr + bh.to(tl.int64) * n_tokens + offs_m, m_i + tl.log2(l_i), mask=offs_m < n_tokens)


@triton.jit
def _dkdv_tile(k, v, q_ptr, do_ptr, lse_ptr, delta_ptr, start, n_tokens, qk_scale, dk, dv, D: tl.constexpr,
               BLOCK_M: tl.constexpr, PRECISION: tl.constexpr, MASK: tl.constexpr):
    """One query tile's contribution to a key tile's dK (unscaled) and dV."""
    offs_m = start + tl.arange(0, BLOCK_M)
    q = _load_rows(q_ptr, offs_m, n_tokens, D, MASK)
    do = _load_rows(do_ptr, offs_m, n_tokens, D, MASK)
    lse, delta = _load_row_stats(lse_ptr, delta_ptr, offs_m, n_tokens, MASK)
    p_t = tl.exp2(tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale - lse[None, :])
    dv += tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)
    ds_t = p_t * (tl.dot(v, tl.trans(do), input_precision=PRECISION) - delta[None, :])
    dk += tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION)
    return dk, dv


@triton.jit
def flash_bwd_dkdv(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr, n_tokens, scale,
                   D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr):
    """dK, dV of one ``(BLOCK_N, D)`` key tile of one (batch, head), looping over query tiles.

    Works on rotated q and k; the caller rotates dK back. Transposed products (``k q^T``) keep every
    reduction along the query axis, so the key tile's accumulators need no transposes.
    """
    bh = tl.program_id(1)
    head = bh.to(tl.int64) * n_tokens * D
    rows = bh.to(tl.int64) * n_tokens
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    k = _load_rows(k_ptr + head, offs_n, n_tokens, D, True)
    v = _load_rows(v_ptr + head, offs_n, n_tokens, D, True)
    qk_scale = scale * 1.4426950408889634
    dk = tl.zeros((BLOCK_N, D), tl.float32)
    dv = tl.zeros((BLOCK_N, D), tl.float32)
    whole = n_tokens // BLOCK_M * BLOCK_M
    for start in range(0, whole, BLOCK_M):
        dk, dv = _dkdv_tile(k, v, q_ptr + head, do_ptr + head, lse_ptr + rows, delta_ptr + rows, start, n_tokens,
                            qk_scale, dk, dv, D, BLOCK_M, PRECISION, False)
    if whole < n_tokens:
        dk, dv = _dkdv_tile(k, v, q_ptr + head, do_ptr + head, lse_ptr + rows, delta_ptr + rows, whole, n_tokens,
                            qk_scale, dk, dv, D, BLOCK_M, PRECISION, True)
    _store_rows(dk_ptr + head, offs_n, n_tokens, dk * scale, D)
    _store_rows(dv_ptr + head, offs_n, n_tokens, dv, D)


@triton.jit
def _dq_tile(q, do, lse, delta, k_ptr, v_ptr, start, n_tokens, qk_scale, dq, D: tl.constexpr, BLOCK_N: tl.constexpr,
             PRECISION: tl.constexpr, MASK: tl.constexpr):
    """One key tile's contribution to a query tile's dQ (unscaled)."""
    s, k, v = _tile_logits(q, k_ptr, v_ptr, start, n_tokens, qk_scale, D, BLOCK_N, PRECISION, MASK)
    p = tl.exp2(s - lse[:, None])
    ds = p * (tl.dot(do, tl.trans(v), input_precision=PRECISION) - delta[:, None])
    return dq + tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)


@triton.jit
def flash_bwd_dq(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, n_tokens, scale,
                 D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr):
    """dQ of one ``(BLOCK_M, D)`` query tile of one (batch, head), looping over key tiles (rotated
    q and k; the caller rotates dQ back)."""
    bh = tl.program_id(1)
    head = bh.to(tl.int64) * n_tokens * D
    rows = bh.to(tl.int64) * n_tokens
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    q = _load_rows(q_ptr + head, offs_m, n_tokens, D, True)
    do = _load_rows(do_ptr + head, offs_m, n_tokens, D, True)
    lse, delta = _load_row_stats(lse_ptr + rows, delta_ptr + rows, offs_m, n_tokens, True)
    qk_scale = scale * 1.4426950408889634
    dq = tl.zeros((BLOCK_M, D), tl.float32)
    whole = n_tokens // BLOCK_N * BLOCK_N
    for start in range(0, whole, BLOCK_N):
        dq = _dq_tile(q, do, lse, delta, k_ptr + head, v_ptr + head, start, n_tokens, qk_scale, dq, D, BLOCK_N,
                      PRECISION, False)
    if whole < n_tokens:
        dq = _dq_tile(q, do, lse, delta, k_ptr + head, v_ptr + head, whole, n_tokens, qk_scale, dq, D, BLOCK_N,
                      PRECISION, True)
    _store_rows(dq_ptr + head, offs_m, n_tokens, dq * scale, D)

"""Triton source of the fused RoPE flash-attention forward, imported only at the first launch so that
importing aether.core never imports Triton (CPU installs work without it). The interpreter is chosen by
``TRITON_INTERPRET=1`` set before anything imports ``triton`` (see ``kernels.interpreter``)."""

import triton
import triton.language as tl


@triton.jit
def _load_rotated(base, cos_ptr, sin_ptr, offs_n, offs_d, n_tokens, text_len, D: tl.constexpr):
    """Tile ``(BLOCK, D)`` of rows ``offs_n``, RoPE applied to rows >= text_len (fp32)."""
    row_ok = offs_n < n_tokens
    x = tl.load(base + offs_n[:, None] * D + offs_d[None, :], mask=row_ok[:, None], other=0.0)
    # interleaved pairs: rotated[2i] = -x[2i+1], rotated[2i+1] = x[2i]
    partner = tl.load(base + offs_n[:, None] * D + (offs_d ^ 1)[None, :], mask=row_ok[:, None], other=0.0)
    sign = tl.where(offs_d % 2 == 0, -1.0, 1.0)
    vid = offs_n - text_len
    is_vid = (vid >= 0) & row_ok
    trig = tl.maximum(vid, 0)[:, None] * D + offs_d[None, :]
    cos = tl.load(cos_ptr + trig, mask=is_vid[:, None], other=1.0)
    sin = tl.load(sin_ptr + trig, mask=is_vid[:, None], other=0.0)
    return x.to(tl.float32) * cos + partner.to(tl.float32) * sign[None, :] * sin


@triton.jit
def rope_flash_fwd(q_ptr, k_ptr, v_ptr, cos_ptr, sin_ptr, o_ptr, n_tokens, text_len, scale,
                   D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr):
    """One (BLOCK_M, D) output tile of one (batch, head): online softmax over K/V tiles."""
    pid_m = tl.program_id(0)
    head = tl.program_id(1).to(tl.int64) * n_tokens * D
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    # softmax in base 2: fold log2(e) into the q scale; dots take the input dtype, accumulate in fp32
    q = _load_rotated(q_ptr + head, cos_ptr, sin_ptr, offs_m, offs_d, n_tokens, text_len, D) * (scale * 1.4426950408889634)
    q = q.to(q_ptr.dtype.element_ty)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    for start in range(0, n_tokens, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        k = _load_rotated(k_ptr + head, cos_ptr, sin_ptr, offs_n, offs_d, n_tokens, text_len, D)
        k = k.to(k_ptr.dtype.element_ty)
        v = tl.load(v_ptr + head + offs_n[:, None] * D + offs_d[None, :], mask=(offs_n < n_tokens)[:, None],
                    other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION)
        s = tl.where((offs_n < n_tokens)[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(o_ptr + head + offs_m[:, None] * D + offs_d[None, :], out.to(o_ptr.dtype.element_ty),
             mask=(offs_m < n_tokens)[:, None])

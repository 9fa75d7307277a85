// Which value a rotated dimension pairs with. For dimension d (< rot) of a head: the in-head
// dimension of its partner, the sign of the partner's term (out = x·cos + sign·partner·sin)
// and the index of its (cos, sin) pair. Interleaved: pairs (2i, 2i + 1); else NeoX halves
// (i, i + rot/2).
struct RopePair {
    partner: u32,
    sign: f32,
    pair: u32,
}

fn rope_pair(d: u32, rot: u32, interleaved: bool) -> RopePair {
    let half = rot / 2u;
    if interleaved {
        if d % 2u == 0u {
            return RopePair(d + 1u, -1.0, d / 2u);
        }
        return RopePair(d - 1u, 1.0, d / 2u);
    }
    if d < half {
        return RopePair(d + half, -1.0, d);
    }
    return RopePair(d - half, 1.0, d - half);
}

//! Enumerating the permutations a canonical symmetry representative must try: the servers that
//! tie on every id-free feature may be renamed among themselves in any order. Shared by the
//! symmetric models (Raft, ZAB).

/// Calls `f` with every arrangement of `order` that permutes only within each `(start, end)` group.
pub(crate) fn permute_groups(
    order: &mut [usize],
    groups: &[(usize, usize)],
    f: &mut impl FnMut(&[usize]),
) {
    let Some((&(start, end), rest)) = groups.split_first() else {
        f(order);
        return;
    };
    order[start..end].sort_unstable();
    loop {
        permute_groups(order, rest, f);
        if !next_permutation(&mut order[start..end]) {
            break;
        }
    }
}

/// Advances to the next lexicographic permutation; false (and sorted) after the last.
fn next_permutation(v: &mut [usize]) -> bool {
    let Some(i) = (1..v.len()).rev().find(|&i| v[i - 1] < v[i]) else {
        v.reverse();
        return false;
    };
    let j = (i..v.len())
        .rev()
        .find(|&j| v[j] > v[i - 1])
        .expect("a larger element exists");
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arrangement_within_groups_once() {
        let mut order = [0, 1, 2, 3, 4];
        let mut seen = Vec::new();
        permute_groups(&mut order, &[(0, 2), (2, 5)], &mut |o| {
            seen.push(o.to_vec())
        });
        assert_eq!(seen.len(), 2 * 6);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 12);
        assert!(seen.iter().all(|o| {
            let (a, b) = o.split_at(2);
            a.iter().all(|&x| x < 2) && b.iter().all(|&x| x >= 2)
        }));
    }
}

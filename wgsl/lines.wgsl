// Lines along one axis (softmax, argreduce, cumsum, sort): a line is (outer, inner) and its
// elements sit at line_base(l) + j * inner. Params: [1] n (line length), [2] inner.

fn line_base(l: u32) -> u32 {
  let n = pu(1u);
  let inner = pu(2u);
  return (l / inner) * n * inner + l % inner;
}

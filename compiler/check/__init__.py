"""`flowc check`: explore everything that can happen to a flow and report what can go wrong.

Works on the IR only (pure, synchronous, no interpreter import): `model` abstracts
the flow's data into cells, `semantics` takes one abstract step, `explore` searches
breadth first, `rules` turns what the search saw into findings, `trace` and
`scenario` write them for people and for `flowd test`. See docs/check.md.
"""

"""Reports rendered from result records: Table I, Fig. 4, the regression check."""

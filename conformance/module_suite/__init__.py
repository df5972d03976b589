"""The module-contract suite: one test module per clause group, each test citing its MOD-* clause."""

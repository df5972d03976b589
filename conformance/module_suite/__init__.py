"""The module-contract suite: ``test_contract.py`` makes one test per MOD-* clause from the contract table."""

"""The storage contract suite: every method of every contract (storage.contract,
storage.base.Store) called with its region's server stopped, and with it up on the empty and
the non-empty case. Run against every backend the ``store`` fixture lists."""

"""SEN12MS as files (``tree``), split by scene (``splits``), as a torch dataset (``sen12ms``) and as a
prepared store of memory-mapped arrays with its threaded loader (``store``)."""

//! Sans-IO protocol cores of the implementation (filled in by issue 4).

"""Points, boundaries and coordinate systems (WGS84, GCJ-02, BD-09) for quarterhour."""

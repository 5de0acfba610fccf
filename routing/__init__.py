"""The walking network from OpenStreetMap: build, cache, snap, walk times, routes, isochrones."""

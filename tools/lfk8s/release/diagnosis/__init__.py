"""Why a release does not become ready, in plain words: pure functions from what the API server
reports (pods, claims, events, nodes, storage classes, controllers) to one sentence per cause,
each naming the object, the cause and the fix. The polling lives in lfk8s.release.watch."""

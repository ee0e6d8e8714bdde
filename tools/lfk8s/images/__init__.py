"""The container images in images/: what an image is, its locks proved by pip's resolver,
Dockerfile checks, builds and pushes, and the report of what has become outdated."""

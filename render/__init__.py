"""Output: connection strings and compose services rendered from catalog data through sandboxed Jinja."""

# kustomize's file name, here rather than in render/kubernetes.py: finding out whether a folder holds a Kubernetes
# stack (every generate does) then needs no Kubernetes renderer.
KUSTOMIZATION_FILE = "kustomization.yaml"

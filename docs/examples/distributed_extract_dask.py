"""Feature extraction on a Dask cluster: extract_distributed shards the images over the workers.

A LocalCluster of two in-process workers stands in for a real cluster, which keeps the example light:
on one machine, LocalCluster(n_workers=2, threads_per_worker=1) gives each worker its own process; on
a cluster, connect with Client("tcp://scheduler:8786") and keep the images and the cache directory on
storage that every worker mounts at the same path. Only the file paths travel; each worker process
reads its own images, loads the backbone once and writes its chunks into the shared feature cache.
"""

import tempfile
from pathlib import Path

import numpy as np
from distributed import Client, LocalCluster
from PIL import Image
from sklearn.datasets import load_digits

from sknmtune.backbones import FrozenBackboneTransformer, extract_distributed

if __name__ == "__main__":
    work = Path(tempfile.mkdtemp())
    digits = load_digits().images[:200]  # 8x8 in 0..16: saved as 32x32 PNG files
    paths = []
    for i, img in enumerate(digits):
        paths.append(str(work / f"digit{i:03d}.png"))
        Image.fromarray((img * 15).astype(np.uint8)).resize((32, 32)).convert("RGB").save(paths[-1])

    # a small random-weight CIFAR ResNet keeps the example offline; use a timm name (and weights=) for real work
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=25,
                                    cache=work / "features")
    # two workers with one thread each, as threads of this process; the status page on loopback only
    local = dict(processes=False, dashboard_address="127.0.0.1:0")
    with LocalCluster(n_workers=2, threads_per_worker=1, **local) as cluster, Client(cluster) as client:
        F = extract_distributed(ext, paths, client=client, chunk_size=50)  # 4 tasks of 2 batches

    same = np.array_equal(F, ext.set_params(cache=None).transform(paths))  # in-process, without the cache
    print(f"features {F.shape} from {len(paths)} files; equal to in-process transform: {same}")

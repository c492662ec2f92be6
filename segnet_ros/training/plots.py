# Copyright 2026 segnet_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Figures for a training run: loss and metric curves, and a confusion matrix."""

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402


def plot_curves(history, path):
    """Write train loss and val G/C/mIoU/BF per epoch to a PNG."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    ep = [h['epoch'] for h in history]
    a.plot(ep, [h['loss'] for h in history], label='train loss')
    a.set_xlabel('epoch')
    a.set_ylabel('loss')
    a.legend()
    val = [h for h in history if 'miou' in h]
    for key, name in (('global_acc', 'G'), ('class_acc', 'C'), ('miou', 'mIoU'), ('bf', 'BF')):
        b.plot([h['epoch'] for h in val], [100 * h[key] for h in val], marker='.', label=name)
    b.set_xlabel('epoch')
    b.set_ylabel('val %')
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(mat, class_names, path):
    """Write a row-normalised confusion matrix (recall per true class) to a PNG."""
    m = np.asarray(mat, dtype=np.float64)
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1 + 0.55 * k, 1 + 0.5 * k))
    ax.imshow(m, cmap='Blues', vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=60, ha='right', fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    for i in range(k):
        for j in range(k):
            if m[i, j] >= 0.01:
                ax.text(j, i, f'{100 * m[i, j]:.0f}', ha='center', va='center', fontsize=7,
                        color='white' if m[i, j] > 0.5 else 'black')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)

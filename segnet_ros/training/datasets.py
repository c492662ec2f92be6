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

"""Labelled segmentation datasets in CamVid layout, and median frequency balancing."""

import os

import numpy as np
from PIL import Image
import torch
import yaml

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm')


class DatasetError(ValueError):
    """A dataset folder or class file that cannot be used."""


def load_classes(path):
    """Read a class YAML file: ``classes: [{name, color: [r, g, b]}]`` and ``ignore_index``."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise DatasetError(f'{path}: cannot read class file ({e})') from None
    try:
        classes = doc['classes']
        names = [str(c['name']) for c in classes]
        colors = [[int(v) for v in c['color']] for c in classes]
        ignore = int(doc.get('ignore_index', 255))
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f'{path}: expected classes: [{{name, color: [r, g, b]}}], '
                           f'ignore_index ({e!r})') from None
    if not names or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colors):
        raise DatasetError(f'{path}: need at least one class, colours as [r, g, b] in 0..255')
    return {'class_names': names, 'class_colors': colors, 'ignore_index': ignore,
            'num_classes': len(names)}


def find_pairs(root, split):
    """
    Return sorted (image, label) path pairs for ``split`` of a CamVid-layout folder.

    Uses ``root/<split>.txt`` (lines ``image label``; absolute paths from another machine
    are re-rooted on their last two components) when present, else pairs files of the same
    stem in ``root/<split>/`` and ``root/<split>annot/``.
    """
    listing = os.path.join(root, f'{split}.txt')
    pairs = []
    if os.path.isfile(listing):
        with open(listing) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DatasetError(f'{listing}:{n}: expected "image label", got {line!r}')
                pairs.append(tuple(_resolve(root, p) for p in parts))
    else:
        img_dir, lbl_dir = os.path.join(root, split), os.path.join(root, f'{split}annot')
        if not os.path.isdir(img_dir) or not os.path.isdir(lbl_dir):
            gone = img_dir if not os.path.isdir(img_dir) else lbl_dir
            raise DatasetError(f'{root}: split {split!r} is missing: no {split}.txt and no '
                               f'folder {gone}')
        labels = {os.path.splitext(n)[0]: n for n in os.listdir(lbl_dir)}
        for name in sorted(os.listdir(img_dir)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in IMAGE_EXTS and stem in labels:
                pairs.append((os.path.join(img_dir, name), os.path.join(lbl_dir, labels[stem])))
    missing = [p for pair in pairs for p in pair if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f'{root}: {len(missing)} listed files do not exist, e.g. {missing[0]}')
    if not pairs:
        raise DatasetError(f'{root}: split {split!r} has no image/label pairs')
    return pairs


def sequence_of(path):
    """
    Return the video sequence an image belongs to: its file name up to the first ``_``.

    CamVid names frames ``<sequence>_<frame>.png`` (``0001TP_006690.png``, ``Seq05VD_f00000``);
    a name without ``_`` is a sequence of its own.
    """
    return os.path.basename(path).split('_', 1)[0]


def _listed_with(root, splits, sequences):
    """Return {split: pairs} of ``splits``; a sequence that none of them holds is an error."""
    listed = {s: find_pairs(root, s) for s in dict.fromkeys(splits)}
    seen = {sequence_of(img) for pairs in listed.values() for img, _ in pairs}
    unknown = sorted(set(sequences) - seen)
    if unknown:
        raise DatasetError(f"{root}: no sequence {', '.join(unknown)} in "
                           f"{'/'.join(listed)}; sequences: {', '.join(sorted(seen))}")
    return listed


def sequence_pairs(root, sequences, splits=('train', 'val')):
    """
    Return every pair of ``splits`` whose sequence is in ``sequences``.

    These are the frames a ``segnet_train --holdout`` fold is scored on; ``segnet_eval`` and
    ``segnet_bag from-dataset`` take them with ``--sequence``.
    """
    listed, wanted = _listed_with(root, splits, sequences), set(sequences)
    return [p for s in splits for p in listed[s] if sequence_of(p[0]) in wanted]


def fold_pairs(root, train_splits, eval_splits, holdout):
    """
    Return (train pairs, eval pairs) for a leave-sequences-out fold.

    Training uses the pairs of ``train_splits`` whose sequence is not in ``holdout``;
    evaluation uses every pair of ``eval_splits`` whose sequence is. A held-out sequence
    that no split holds, or a fold that leaves nothing to train on, is an error.
    """
    holdout = set(holdout)
    listed = _listed_with(root, [*train_splits, *eval_splits], holdout)
    train = [p for s in train_splits for p in listed[s] if sequence_of(p[0]) not in holdout]
    evaluate = [p for s in eval_splits for p in listed[s] if sequence_of(p[0]) in holdout]
    if not train:
        raise DatasetError(f"{root}: holding out {', '.join(sorted(holdout))} leaves no "
                           f"training images in {'/'.join(train_splits)}")
    return train, evaluate


def _resolve(root, p):
    if os.path.isabs(p) and os.path.isfile(p):
        return p
    if not os.path.isabs(p) and os.path.isfile(os.path.join(root, p)):
        return os.path.join(root, p)
    parts = p.replace('\\', '/').rstrip('/').split('/')
    return os.path.join(root, *parts[-2:])


def _unreadable(path, what, e):
    reason = ' '.join(str(e).split()) or type(e).__name__
    return DatasetError(f'{path}: cannot read {what} ({reason})')


def read_image(path):
    """Read an image file as HxWx3 uint8 RGB."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert('RGB'))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _unreadable(path, 'image', e) from None


def read_label(path):
    """Read a label PNG (one class index per pixel) as HxW uint8."""
    try:
        with Image.open(path) as im:
            if im.mode not in ('L', 'P', 'I', 'I;16'):
                raise DatasetError(f'{path}: label must be a single-channel image, got {im.mode}')
            lbl = np.array(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _unreadable(path, 'label', e) from None
    if lbl.dtype != np.uint8 and (lbl.min() < 0 or lbl.max() > 255):
        raise DatasetError(f'{path}: label values {int(lbl.min())}..{int(lbl.max())} do not fit '
                           'in 0..255')
    return lbl.astype(np.uint8, copy=False)


def check_label_values(lbl, path, num_classes, ignore_index):
    """Fail, naming ``path``, when a label holds values outside the classes and not ignored."""
    bad = (lbl >= num_classes) & (lbl != ignore_index)
    if bad.any():
        raise DatasetError(f'{path}: label values {sorted(set(lbl[bad].tolist()))[:5]} '
                           f'are outside 0..{num_classes - 1} and not the ignore '
                           f'index {ignore_index}')


def check_pairs(pairs, num_classes, ignore_index):
    """
    Check every pair before training starts; the first bad file fails with its name.

    Images are checked from their headers and chunk checksums (Pillow ``verify``: readable,
    not truncated, their size); labels are decoded and must be single-channel, of their
    image's size, and hold only class indices or the ignore index.
    """
    for img_path, lbl_path in pairs:
        try:
            with Image.open(img_path) as im:
                size = im.size
                im.verify()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise _unreadable(img_path, 'image', e) from None
        lbl = read_label(lbl_path)
        if (lbl.shape[1], lbl.shape[0]) != size:
            raise DatasetError(f'{lbl_path} is {lbl.shape[1]}x{lbl.shape[0]} but its image '
                               f'{img_path} is {size[0]}x{size[1]}')
        check_label_values(lbl, lbl_path, num_classes, ignore_index)


class SegmentationDataset(torch.utils.data.Dataset):
    """
    Image/label pairs of a split, optionally cached in memory, with a paired transform.

    Items are ``(image uint8 tensor 3xHxW, label int64 tensor HxW)`` after ``transform``.
    """

    def __init__(self, root, split, num_classes, ignore_index, transform=None, cache=True,
                 pairs=None):
        # ``pairs`` (a list of (image, label) paths) replaces the split's own list.
        self.pairs = list(pairs) if pairs is not None else find_pairs(root, split)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.transform = transform
        self._cache = {} if cache else None

    def __len__(self):
        return len(self.pairs)

    def load(self, i):
        """Return the raw (image HxWx3, label HxW) uint8 arrays of item ``i``."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        img_path, lbl_path = self.pairs[i]
        img, lbl = read_image(img_path), read_label(lbl_path)
        if img.shape[:2] != lbl.shape:
            raise DatasetError(f'{img_path} is {img.shape[1]}x{img.shape[0]} but its label '
                               f'{lbl_path} is {lbl.shape[1]}x{lbl.shape[0]}')
        check_label_values(lbl, lbl_path, self.num_classes, self.ignore_index)
        if self._cache is not None:
            self._cache[i] = (img, lbl)
        return img, lbl

    def check(self):
        """Check every pair's files (``check_pairs``); raise DatasetError on the first bad one."""
        check_pairs(self.pairs, self.num_classes, self.ignore_index)

    def __getitem__(self, i):
        """Return the transformed pair."""
        img, lbl = self.load(i)
        img = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        lbl = torch.from_numpy(lbl.astype(np.int64))
        if self.transform is not None:
            img, lbl = self.transform(img, lbl)
        return img, lbl


def label_histograms(labels, num_classes):
    """Return per-class pixel counts and the pixels of the images each class appears in."""
    counts = np.zeros(num_classes, np.int64)
    present = np.zeros(num_classes, np.int64)
    for lbl in labels:
        h = np.bincount(lbl.ravel(), minlength=256)[:num_classes]
        counts += h
        present += (h > 0) * lbl.size
    return counts, present


def median_frequency_weights(labels, num_classes):
    """
    Median frequency balancing (Eigen & Fergus; SegNet): median(freq) / freq_c.

    freq_c = pixels of class c / total pixels of the images in which c appears. Labels at
    or above ``num_classes`` (void) are ignored. A class that never appears gets weight 0.
    """
    counts, present = label_histograms(labels, num_classes)
    seen = present > 0
    freq = np.zeros(num_classes)
    freq[seen] = counts[seen] / present[seen]
    med = np.median(freq[seen]) if seen.any() else 0.0
    weights = np.zeros(num_classes)
    weights[seen] = med / freq[seen]
    return weights

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

"""
The one on-disk model format: safetensors weights with self-describing metadata.

A model file holds tensors and a JSON-valued header, nothing executable: loading never
unpickles. ``load_model_file`` checks the header against the tensors and fails with one
``ModelFileError`` naming the file and the problem.
"""

import dataclasses
import json
import os

from safetensors import safe_open
from safetensors.torch import save as save_bytes
from safetensors.torch import save_file
import torch

from .nets import ARCHITECTURES
from .nets import build_model
from .paths import file_problem

FORMAT = 'segnet_ros.model'
FORMAT_VERSION = '1'
# Keys every model file carries; values are JSON in the safetensors string header.
REQUIRED = ('architecture', 'width', 'num_classes', 'class_names', 'class_colors',
            'ignore_index', 'input_size', 'mean', 'std')
_PICKLE_MAGIC = (b'\x80', b'PK\x03\x04')  # pickle protocol 2+ and torch's zip checkpoints


class ModelFileError(ValueError):
    """A model file that cannot be used: unreadable, not safetensors, or inconsistent."""


@dataclasses.dataclass(slots=True)
class ModelInfo:
    """
    Model metadata: the network, its classes and the input it expects.

    A misspelt field fails (AttributeError when read or set, TypeError as a keyword).
    Header keys this version does not know are kept in ``extra`` and written back.
    """

    architecture: str
    width: float
    num_classes: int
    class_names: list
    class_colors: list          # [[r, g, b], ...], one per class
    ignore_index: int
    input_size: list            # [height, width] the network was trained at
    mean: list                  # per-channel normalisation, on 0..1 values
    std: list
    metrics: dict = dataclasses.field(default_factory=dict)  # validation figures
    training: dict = None       # training settings (segnet_train)
    bn_statistics: str = None   # where BatchNorm statistics were recomputed (segnet_export)
    net_options: dict = None    # build options that change inference, e.g. {'lrn': 'raw'}
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, values):
        """Build from a header's decoded values; keys without a field go to ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)} - {'extra'}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})

    def to_dict(self):
        """Return the header's values: every field that is set, and ``extra``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != 'extra' and getattr(self, f.name) is not None}
        out.update(self.extra)
        return out


def default_info(architecture, num_classes, **kw):
    """Return metadata with sensible defaults for the fields not given."""
    fields = {
        'architecture': architecture, 'width': 1.0, 'num_classes': num_classes,
        'class_names': [f'class_{i}' for i in range(num_classes)],
        'class_colors': [[(37 * i) % 256, (91 * i) % 256, (157 * i) % 256]
                         for i in range(num_classes)],
        'ignore_index': 255, 'input_size': [360, 480],
        'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225]}
    fields.update(kw)
    return ModelInfo(**fields)


# What a model file's tensors may be stored as: floating weights in one of these (fp16 files
# are half the size, for GPUs and carried files; they load into fp32), counters as integers.
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def save_model_file(path, model, info, dtype=None):
    """
    Write ``model``'s weights and ``info`` to ``path`` atomically (write, then rename).

    ``dtype`` (torch.float16 or torch.bfloat16) stores the floating tensors in it; integer
    tensors (BatchNorm counters) stay as they are.
    """
    if dtype is not None and dtype not in FLOAT_DTYPES:
        raise ModelFileError(f'{path}: weights cannot be stored as {dtype}')
    if not isinstance(info, ModelInfo):
        raise TypeError(f'info must be a ModelInfo (see default_info), got {type(info).__name__}')
    values = info.to_dict()
    options = getattr(model, 'net_options', None)
    if options:
        # The model says how it was built (e.g. where SegNet-Basic's LRN acts).
        values['net_options'] = dict(options)
        stem = getattr(model, 'stem', None)
        if options.get('lrn') == 'raw' and not (
                torch.allclose(stem.mean.flatten().cpu(), torch.tensor(info.mean)) and
                torch.allclose(stem.std.flatten().cpu(), torch.tensor(info.std))):
            raise ModelFileError(f'{path}: the model de-normalises its input with mean '
                                 f'{stem.mean.flatten().tolist()} and std '
                                 f'{stem.std.flatten().tolist()}, the metadata says '
                                 f'{info.mean} and {info.std}')
    _check_info(values, path)
    header = {k: json.dumps(v) for k, v in values.items()}
    header['format'] = FORMAT
    header['format_version'] = FORMAT_VERSION
    tensors = {k: v.detach().to('cpu').contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    tmp = f'{path}.tmp{os.getpid()}'
    save_file(tensors, tmp, metadata=header)
    os.chmod(tmp, 0o644)  # a model file is data to share, not a private temporary
    os.replace(tmp, path)


def read_model_info(path):
    """Return the metadata of a model file without building the model."""
    return _open(path)[0]


def load_model_file(path, device='cpu'):
    """Return ``(model, info)``: the model in eval mode on ``device`` and its metadata."""
    info, tensors = _open(path, with_tensors=True)
    try:
        # SegNet-Basic files written before net_options fed the LRN normalised input.
        lrn = (info.net_options or {}).get('lrn', 'normalised')
        model = build_model(info.architecture, int(info.num_classes), float(info.width),
                            lrn=lrn, mean=info.mean, std=info.std)
    except ValueError as e:
        raise ModelFileError(f'{path}: {e}') from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f'{path}: tensors do not match a {info.architecture} (width {info.width}, '
            f'{info.num_classes} classes): missing {_few(missing)}, unexpected {_few(extra)}')
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ModelFileError(
                f'{path}: tensor {k} has shape {tuple(tensors[k].shape)} but a '
                f'{info.architecture} with {info.num_classes} classes and width {info.width} '
                f'needs {tuple(v.shape)}')
        got = tensors[k].dtype
        if v.is_floating_point() and got not in FLOAT_DTYPES or \
                not v.is_floating_point() and (got.is_floating_point or got == torch.bool):
            want = 'float32, float16 or bfloat16' if v.is_floating_point() else 'an integer'
            stored = str(got).replace('torch.', '')
            raise ModelFileError(f'{path}: tensor {k} is stored as {stored}, a '
                                 f'{info.architecture} needs {want}')
        # fp16 / bf16 files load into the fp32 network; the Segmenter picks its precision.
        tensors[k] = tensors[k].to(v.dtype)
    model.load_state_dict(tensors)
    return model.to(device).eval(), info


def _few(names, n=3):
    if not names:
        return 'none'
    more = f' and {len(names) - n} more' if len(names) > n else ''
    return ', '.join(names[:n]) + more


def _open(path, with_tensors=False):
    path = os.fspath(path)
    problem = file_problem(path)
    if problem and not problem.endswith('not readable'):  # unreadable: open() says why
        raise ModelFileError(problem)
    try:
        with open(path, 'rb') as f:
            head = f.read(9)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise ModelFileError(f'{path}: cannot read: {e.strerror}') from None
    # safetensors: u64 little-endian header length, then a JSON object.
    looks_safetensors = len(head) == 9 and head[8:9] == b'{' and \
        int.from_bytes(head[:8], 'little') <= size - 8
    if not looks_safetensors and head.startswith(_PICKLE_MAGIC):
        raise ModelFileError(
            f'{path}: looks like a pickle / torch.save checkpoint; refusing to unpickle it '
            '(it could run code). Model files are .safetensors, as segnet_train writes them.')
    try:
        with safe_open(path, framework='pt') as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else None
    except Exception as e:  # safetensors raises its own error types, and OSError
        raise ModelFileError(f'{path}: not a valid safetensors file ({e})') from None
    if raw.get('format') != FORMAT:
        raise ModelFileError(f'{path}: safetensors file without segnet_ros metadata '
                             f"(format is {raw.get('format')!r}, expected '{FORMAT}')")
    try:
        values = {k: json.loads(v) for k, v in raw.items()
                  if k not in ('format', 'format_version')}
    except json.JSONDecodeError as e:
        raise ModelFileError(f'{path}: metadata is not valid JSON ({e})') from None
    _check_info(values, path)
    return ModelInfo.from_dict(values), tensors


def _check_info(values, path):
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise ModelFileError(f'{path}: metadata lacks {", ".join(missing)}')
    if values['architecture'] not in ARCHITECTURES:
        raise ModelFileError(f"{path}: unknown architecture {values['architecture']!r}; valid: "
                             f"{', '.join(sorted(ARCHITECTURES))}")
    k = values['num_classes']
    if not isinstance(k, int) or not 1 <= k <= 255:
        raise ModelFileError(f'{path}: num_classes must be an integer in 1..255, got {k!r}')
    if len(values['class_names']) != k or len(values['class_colors']) != k:
        raise ModelFileError(
            f"{path}: num_classes is {k} but there are {len(values['class_names'])} class names "
            f"and {len(values['class_colors'])} class colours")
    if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in values['class_colors']):
        raise ModelFileError(f'{path}: class colours must be [r, g, b] triples in 0..255')
    size = values['input_size']
    if len(size) != 2 or not all(isinstance(v, int) and 8 <= v <= 8192 for v in size):
        raise ModelFileError(f'{path}: input_size must be [height, width] in 8..8192')
    if len(values['mean']) != 3 or len(values['std']) != 3 or min(values['std']) <= 0:
        raise ModelFileError(f'{path}: mean and std must be 3 numbers each, std > 0')


def save_state(path, state, midway=None):
    """
    Save a nested dict of tensors, numbers, strings and lists as safetensors.

    Used for training checkpoints (model, optimizer, scheduler, RNG, config) so that resuming
    never unpickles. Tensors go to the tensor table under their path; the rest is JSON. The
    file is written under a temporary name and renamed into place, so ``path`` always holds
    either the previous state or the new one, whenever the process is killed.

    ``midway`` is for tests only: when given, it is called (without arguments) once half of
    the temporary file is on disk, before the rest is written and renamed, so that a test
    can kill the process inside the write (``training.engine.pause_for_test``).
    """
    tensors = {}

    def pack(obj, key):
        if isinstance(obj, torch.Tensor):
            tensors[key] = obj.detach().to('cpu').contiguous()
            return {'__tensor__': key}
        if isinstance(obj, dict):
            return {'__dict__': [[pack(k, f'{key}.k{i}'), pack(v, f'{key}.{i}')]
                                 for i, (k, v) in enumerate(obj.items())]}
        if isinstance(obj, (list, tuple)):
            return {'__list__': [pack(v, f'{key}.{i}') for i, v in enumerate(obj)],
                    'tuple': isinstance(obj, tuple)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise TypeError(f'cannot store {type(obj).__name__} at {key}')

    skeleton = pack(state, 's')
    tmp = f'{path}.tmp{os.getpid()}'
    metadata = {'format': 'segnet_ros.state', 'state': json.dumps(skeleton)}
    if midway is None:
        save_file(tensors, tmp, metadata=metadata)
    else:  # the same bytes, written in two halves with the test's pause in between
        data = save_bytes(tensors, metadata=metadata)
        with open(tmp, 'wb') as f:
            f.write(data[:len(data) // 2])
            f.flush()
            midway()
            f.write(data[len(data) // 2:])
    os.replace(tmp, path)


def load_state(path, tensors=True):
    """
    Load what ``save_state`` wrote; raise ModelFileError on anything else.

    With ``tensors=False`` only the JSON part is read (tensors come back as None): a
    resumed run reads its config without loading the weights twice.
    """
    path = os.fspath(path)
    try:
        with safe_open(path, framework='pt') as f:
            meta = f.metadata() or {}
            if meta.get('format') != 'segnet_ros.state':
                raise ModelFileError(f'{path}: not a segnet_ros checkpoint')
            skeleton = json.loads(meta['state'])
            table = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except ModelFileError:
        raise
    except Exception as e:
        raise ModelFileError(f'{path}: not a readable checkpoint ({e})') from None

    def unpack(obj):
        if isinstance(obj, dict):
            if '__tensor__' in obj:
                return table[obj['__tensor__']] if tensors else None
            if '__dict__' in obj:
                return {unpack(k): unpack(v) for k, v in obj['__dict__']}
            items = [unpack(v) for v in obj['__list__']]
            return tuple(items) if obj['tuple'] else items
        return obj

    return unpack(skeleton)

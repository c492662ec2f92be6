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
The inference core: RGB array in, class mask / colour mask / overlay / confidence out.

No ROS import: the node, the bag evaluation tools and the benchmarks all call ``Segmenter``.
On CUDA every step after the upload stays on the GPU and the requested outputs come back
in a single device-to-host copy.
"""

from dataclasses import dataclass
import logging
import os
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from . import modelfile
from .nets.segnet import fold_batchnorm
from .visualize import colorize
from .visualize import import_opencv
from .visualize import overlay as blend
from .visualize import palette_tensor

OUTPUTS = ('mask', 'color', 'overlay', 'confidence', 'uncertainty')
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
BACKENDS = ('auto', 'torch', 'onnxruntime')
UPSAMPLING = ('logits', 'mask')
_log = logging.getLogger('segnet_ros.inference')
_READ_ONLY_WARNING = 'The given NumPy array is not writable'
_read_only_warning_spent = False


class SegmenterError(RuntimeError):
    """The segmenter cannot be built or cannot run: bad device, precision or model file."""


@dataclass
class Result:
    """What one call returns; outputs that were not asked for are None."""

    mask: np.ndarray = None          # (H, W) uint8 class index
    color: np.ndarray = None         # (H, W, 3) uint8 palette colours
    overlay: np.ndarray = None       # (H, W, 3) uint8 blend of the image and colours
    confidence: np.ndarray = None    # (H, W) float32 max softmax probability
    uncertainty: np.ndarray = None   # (H, W) float32 MC-dropout variance (Bayesian models)
    infer_s: float = 0.0             # model forward (incl. MC samples), synchronised
    total_s: float = 0.0             # upload -> arrays on the host (incl. time in emit)


def resolve_device(name):
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a torch.device, or raise SegmenterError."""
    name = str(name).strip().lower()
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name == 'cpu':
        return torch.device('cpu')
    if name == 'cuda' or name.startswith('cuda:'):
        if not torch.cuda.is_available():
            raise SegmenterError(f"device '{name}' requested but no CUDA device is available "
                                 "(use device 'auto' to fall back to the CPU)")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SegmenterError(f"device '{name}' requested but only "
                                 f'{torch.cuda.device_count()} CUDA device(s) exist')
        return dev
    raise SegmenterError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def is_out_of_memory(exc):
    """Return True when ``exc`` is the device (or host) running out of memory."""
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and 'out of memory' in str(exc).lower()


def free_cached_memory(device):
    """Return cached GPU memory to the driver (after an out-of-memory error, on unload)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.empty_cache()


def cpu_has_native_bf16(cpuinfo='/proc/cpuinfo'):
    """
    Return True when the CPU computes bf16 natively (x86 AVX512-BF16 or AMX; Arm BF16).

    Read from the CPU's flags, not assumed: elsewhere oneDNN emulates bf16 and it is slower
    than fp32. Without /proc/cpuinfo (not Linux) the answer is False.
    """
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('flags', 'Features'):
            flags = set(value.split())
            return bool(flags & {'avx512_bf16', 'amx_bf16', 'bf16'})
    return False


def resolve_precision(precision, device, warn=_log.warning, native_bf16=None):
    """
    Return the compute dtype for ``precision`` on ``device``, warning when it falls back.

    ``auto``: fp16 on CUDA; on the CPU bf16 where the CPU has it natively (2.1-2.5x the
    fp32 speed of the bundled model here, mIoU on CamVid val 51.68 vs 51.58), else fp32.
    """
    if precision not in PRECISIONS:
        raise SegmenterError(f"unknown precision '{precision}'; use {', '.join(PRECISIONS)}")
    if device.type != 'cuda' and precision in ('auto', 'bf16'):
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        if precision == 'bf16' and not native:
            warn('bf16 is not native on this CPU (no avx512_bf16/amx_bf16 flag): emulated it '
                 'is slower than fp32; using fp32')
        return torch.bfloat16 if native else torch.float32
    if precision == 'auto':
        return torch.float16
    if precision == 'fp16' and device.type != 'cuda':
        warn(f'fp16 is not supported for inference on {device}; using fp32')
        return torch.float32
    if precision == 'bf16' and device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        warn(f'bf16 is not supported on {torch.cuda.get_device_name(device)}; using fp16')
        return torch.float16
    return {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}[precision]


def resolve_backend(backend, device, dtype, mc_samples):
    """
    Pick the runtime.

    ``auto`` is PyTorch: on the CPU here it runs the bundled model 1.13x faster than ONNX
    Runtime (benchmarks/bench_onnx.py); ONNX Runtime stays selectable for deterministic fp32
    models on the CPU.
    """
    if backend not in BACKENDS:
        raise SegmenterError(f"unknown backend '{backend}'; use {', '.join(BACKENDS)}")
    if backend != 'onnxruntime':
        return 'torch'
    usable = device.type == 'cpu' and dtype == torch.float32 and not mc_samples
    if usable:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            usable = False
    if not usable:
        raise SegmenterError('backend onnxruntime needs onnxruntime installed, the CPU, fp32 '
                             'and a deterministic model (no Monte Carlo sampling)')
    return backend


def _from_numpy(array):
    """
    Wrap an array as a tensor without a copy, silencing torch's warning on read-only ones.

    Frames arrive as read-only views of message buffers; the core never writes to them, so
    wrapping them without a copy is safe and torch's warning about it is noise. Torch
    issues it once per process, so only the first read-only frame is wrapped under a
    scoped filter (``warnings.catch_warnings``); importing this module installs no filter,
    and later frames pay nothing (a copy would cost 0.5 ms on a 1080p frame).
    """
    global _read_only_warning_spent
    if array.flags.writeable or _read_only_warning_spent:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=_READ_ONLY_WARNING)
        tensor = torch.from_numpy(array)
    _read_only_warning_spent = True
    return tensor


def _cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'segnet_ros')


class OnnxRunner:
    """The model exported to ONNX (cached by file hash) and run by ONNX Runtime on the CPU."""

    def __init__(self, model_path, cache_dir=None):
        import hashlib

        import onnxruntime as ort

        from .onnx_export import export_onnx
        h = hashlib.sha256()
        with open(model_path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        cache = cache_dir or _cache_dir()
        os.makedirs(cache, exist_ok=True)
        self.path = os.path.join(cache, f'{h.hexdigest()[:32]}.onnx')
        if not os.path.isfile(self.path):
            export_onnx(model_path, self.path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Spinning idle threads would steal the CPU from the node's other threads.
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(self.path, opts,
                                            providers=['CPUExecutionProvider'])

    def run(self, x):
        """Return float32 logits for a normalised (1, 3, H, W) CPU tensor."""
        arr = x.contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {'image': arr})[0])


class Segmenter:
    """
    Run a SegNet model file on RGB images.

    Arguments of the constructor:

    - ``model_path``: a ``.safetensors`` model file written by training.
    - ``device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    - ``precision``: ``auto`` (fp16 on CUDA; bf16 on CPUs with native bf16, else fp32),
      ``fp32``, ``fp16``, ``bf16``.
    - ``input_size``: (height, width) the network sees; None uses the model's training size.
    - ``mc_samples``: Monte Carlo dropout samples for Bayesian models (0 = deterministic).
    - ``warn``: callable for warnings (falls back to the logging module).
    - ``backend``: ``auto`` (PyTorch, the faster here), ``torch`` or ``onnxruntime`` (CPU,
      fp32, deterministic models).
    - ``upsample``: when the network runs below the image size, ``mask`` (default) takes the
      argmax at network resolution and resizes the mask by nearest neighbour (fast; on
      CamVid val the same mIoU within 0.2); ``logits`` resizes the class scores
      bilinearly before the argmax (about the cost of the forward pass again).
    - ``flip``: test-time flip: average the class scores of the frame and of its mirror image
      (twice the forward cost; deterministic models only, Monte Carlo sampling already
      averages).

    For example::

        >>> seg = Segmenter('models/segnet_camvid_light.safetensors', device='auto')
        >>> res = seg.segment(rgb, outputs=('mask', 'overlay'), alpha=0.5)
        >>> res.mask.shape == rgb.shape[:2]
        True

    """

    def __init__(self, model_path, device='auto', precision='auto', input_size=None,
                 mc_samples=0, warn=None, backend='auto', upsample='mask', flip=False):
        self.device = resolve_device(device)
        if backend == 'onnxruntime' and precision == 'auto':
            precision = 'fp32'  # what ONNX Runtime runs here
        self.dtype = resolve_precision(precision, self.device, warn or _log.warning)
        self.model_path = os.path.realpath(os.fspath(model_path))
        try:
            self.model, self.info = modelfile.load_model_file(self.model_path, self.device)
        except modelfile.ModelFileError as e:
            raise SegmenterError(str(e)) from None
        except OSError as e:
            raise SegmenterError(f'{self.model_path}: {e}') from None
        # As trained (the file's count), before the folding below removes BatchNorm's.
        self.parameter_count = sum(t.numel() for t in self.model.parameters())
        # Folded in fp32, before any cast: one rounding of the folded weights.
        fold_batchnorm(self.model)
        if self.dtype != torch.float32:
            self.model.to(self.dtype)
        if self.device.type == 'cpu':
            self.model.to(memory_format=torch.channels_last)  # 1.2x faster here (benchmarks)
        size = input_size if input_size and all(input_size) else self.info.input_size
        if len(size) != 2 or not all(8 <= int(v) <= 8192 for v in size):
            raise SegmenterError(f'input_size must be (height, width) in 8..8192, got {size}')
        self.input_size = (int(size[0]), int(size[1]))
        if mc_samples < 0:
            raise SegmenterError(f'mc_samples must be >= 0, got {mc_samples}')
        self.mc_samples = int(mc_samples) if self.model.bayesian else 0
        if upsample not in UPSAMPLING:
            raise SegmenterError(f"unknown upsample '{upsample}'; use {', '.join(UPSAMPLING)}")
        self.upsample = upsample
        self.flip = bool(flip) and not self.mc_samples
        self.backend = resolve_backend(backend, self.device, self.dtype, self.mc_samples)
        self._ort = OnnxRunner(self.model_path) if self.backend == 'onnxruntime' else None
        self.num_classes = int(self.info.num_classes)
        self.class_names = list(self.info.class_names)
        self.class_colors = [list(c) for c in self.info.class_colors]
        self._lut = palette_tensor(self.class_colors, self.device)
        # On the CPU, OpenCV does the per-pixel work (nearest/bilinear resizes, lookup-table
        # colours, weighted add): the whole call with all four outputs at 1080p is 2.4-3.1x
        # faster than with the torch code (benchmarks/bench_cpu_ops.py).
        self._cv2 = import_opencv() if self.device.type == 'cpu' else None
        self._lut_np = self._lut.cpu().numpy()
        # On the CPU each output is a numpy view the moment it exists; elsewhere all outputs
        # are computed on the device and come back in one copy.
        self._outputs_on_host = self.device.type == 'cpu'
        self._mean = torch.tensor(self.info.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.info.std, device=self.device).view(1, 3, 1, 1) * 255
        self._norm_lut = self._normalise_lut() if self._cv2 is not None else None

    @property
    def dtype_name(self):
        """Return the compute precision as the ready line and /diagnostics say it: 'bfloat16'."""
        return str(self.dtype).replace('torch.', '')

    @property
    def bayesian(self):
        """Return True when the model can report per-pixel uncertainty."""
        return self.mc_samples > 0

    def close(self):
        """Drop the model and release cached GPU memory."""
        self.model = self._ort = None
        self._lut = self._mean = self._std = None
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()

    def warmup(self, runs=1, outputs=('mask',)):
        """
        Run the model on a blank frame of the network's size so the first real one is not slow.

        ``outputs=None`` computes every output this model has (the whole frame path: the
        colours, the overlay, confidence and, for a Bayesian model, uncertainty).
        """
        if outputs is None:
            outputs = [o for o in OUTPUTS if o != 'uncertainty' or self.bayesian]
        blank = np.zeros((*self.input_size, 3), np.uint8)
        for _ in range(runs):
            self.segment(blank, outputs=outputs)

    def _full(self, plane, h, w):
        """Bilinear-resize a (h', w') map to the image size if it is not there yet."""
        if tuple(plane.shape) == (h, w):
            return plane
        return F.interpolate(plane[None, None], size=(h, w), mode='bilinear',
                             align_corners=False)[0, 0]

    def _sync(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def _prepare(self, rgb):
        """Upload, resize to the network input and normalise an (H, W, 3) uint8 image."""
        h, w = rgb.shape[:2]
        if self._cv2 is not None:
            return self._prepare_host(rgb)
        src = _from_numpy(np.ascontiguousarray(rgb)).to(self.device, non_blocking=True)
        # Resized in float as in training: torch's faster uint8 resize rounds the input
        # and changed 1.3% of the bundled model's mask pixels on the sample frames.
        x = src.permute(2, 0, 1).unsqueeze(0).float()
        if (h, w) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode='bilinear', align_corners=False,
                              antialias=h > self.input_size[0] or w > self.input_size[1])
        x = ((x - self._mean) / self._std).to(self.dtype)
        if self.device.type == 'cpu' and self._ort is None:
            x = x.contiguous(memory_format=torch.channels_last)
        return src, x

    def _normalise_lut(self):
        """
        Return the normalised input value of each uint8 level per channel, for ``cv2.LUT``.

        Computed with the expression the float path uses, then cast to the model's dtype,
        so a lookup is bit-identical to normalising: one pass instead of four (0.26 ms
        against 1.16 ms at 360x480 here). 2-byte dtypes travel as int16 (OpenCV has no
        bf16) and are viewed back.
        """
        levels = torch.arange(256, dtype=torch.float32).view(1, 1, 256, 1).expand(1, 3, 256, 1)
        lut = ((levels - self._mean) / self._std).to(self.dtype)  # CPU tensors: cv2 path only
        lut = lut[0, :, :, 0].t().contiguous()  # (256, 3)
        if lut.element_size() == 2:
            lut = lut.view(torch.int16)
        return lut.numpy().reshape(256, 1, 3)

    def _prepare_host(self, rgb):
        """
        Resize the uint8 frame first, then convert only the small image (the CPU path).

        Converting a 1080p frame to float before resizing cost 6.3 ms; torch's uint8
        antialiased bilinear (the training filter, rounded to uint8) takes 1.0 ms and scores
        as the float path on CamVid val (51.58 mIoU both) and 0001TP (53.25 vs 53.13).
        OpenCV's area filter was faster at 480x360 but lost 0.24 mIoU on val.
        """
        ih, iw = self.input_size
        h, w = rgb.shape[:2]
        small = np.ascontiguousarray(rgb)
        if h <= ih and w <= iw and (h, w) != (ih, iw):
            # Upscaling (a 480x360 frame into a 384x512 network): OpenCV's bilinear is the
            # same half-pixel formula in fixed point (within one level of the float resize,
            # as torch's uint8 one) and C-contiguous; torch's came back as a strided NCHW
            # view, on which cv2.LUT took 0.88 ms instead of 0.25 (prepare 1.43 -> 0.47 ms).
            small = self._cv2.resize(small, (iw, ih), interpolation=self._cv2.INTER_LINEAR)
        elif (h, w) != (ih, iw):
            img = _from_numpy(small).permute(2, 0, 1).unsqueeze(0)
            img = F.interpolate(img.contiguous(memory_format=torch.channels_last), size=(ih, iw),
                                mode='bilinear', align_corners=False, antialias=True)
            small = img[0].permute(1, 2, 0).numpy()
        x = torch.from_numpy(self._cv2.LUT(small, self._norm_lut)).view(self.dtype)
        # (H, W, 3) as (1, 3, H, W): channels-last, as the model runs on the CPU.
        return small, x.permute(2, 0, 1).unsqueeze(0)

    def _finish_cv2(self, scores, uncertainty, image, want, alpha, size, ready):
        """
        CPU outputs with OpenCV, each computed once at network resolution and resized.

        Nearest-neighbour commutes with the palette lookup, so colours are looked up on the
        small mask and resized, not looked up on two million pixels. ``image`` is the frame
        at the output size (the camera frame, or the resized one for network resolution).
        """
        cv2 = self._cv2
        h, w = size
        top, mask = scores[0].max(0)  # in the model's dtype: the same argmax, no float copy
        small = mask.to(torch.uint8).numpy()
        resize = small.shape != (h, w)

        def nearest(a):
            return cv2.resize(a, (w, h), interpolation=cv2.INTER_NEAREST) if resize else a

        if 'mask' in want:
            ready('mask', nearest(small))
        if want & {'color', 'overlay'}:
            # np.take, not fancy indexing: 0.34 ms against 1.36 ms at 360x480 here.
            color = nearest(np.take(self._lut_np, small, axis=0))
            if 'color' in want:
                ready('color', color)
            if 'overlay' in want:
                ready('overlay', blend_uint8(image, color, alpha, cv2))

        def bilinear(t):
            a = np.ascontiguousarray(t.float().numpy())
            return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR) if resize else a

        if 'confidence' in want:
            conf = top if self.mc_samples else \
                (scores[0].float() - top.float()).exp_().sum(0).reciprocal_()
            ready('confidence', bilinear(conf))
        if 'uncertainty' in want and uncertainty is not None:
            ready('uncertainty', bilinear(uncertainty[0]))

    def _forward(self, x):
        """
        Return class scores (1, K, h, w); with ``flip``, averaged in float with the mirror's.

        Without flip they stay in the model's dtype: the argmax of bf16 scores is the argmax
        of their (exact) float copies, and skipping the copy saves ~0.2 ms at 360x480; the
        outputs that need float (confidence, resized scores) convert.
        """
        if self._ort is not None:
            scores = self._ort.run(x)
            return (scores + self._ort.run(x.flip(-1)).flip(-1)) / 2 if self.flip else scores
        if not self.flip:
            return self.model(x)
        # One batch of two: one pass over the weights for both.
        pair = torch.cat([x, x.flip(-1)])
        if self.device.type == 'cpu':
            pair = pair.contiguous(memory_format=torch.channels_last)
        both = self.model(pair).float()
        return (both[:1] + both[1:].flip(-1)) / 2

    @torch.inference_mode()
    def segment(self, rgb, outputs=('mask',), alpha=0.5, emit=None, at_network=False):
        """
        Segment one (H, W, 3) uint8 RGB image; compute only the requested ``outputs``.

        ``emit(name, array)``, when given, receives each output as soon as it is on the
        host. On the CPU the class mask is emitted before the colours, overlay and
        confidence are computed, so whoever waits for the mask does not wait for them; on
        CUDA everything is computed on the GPU first and comes back in one copy.
        ``at_network``: outputs at the network's input size instead of the image's (as
        Isaac ROS and ros_deep_learning publish them), the overlay on the resized image.
        """
        t0 = time.perf_counter()
        want = set(outputs)
        unknown = want - set(OUTPUTS)
        if unknown:
            raise ValueError(f"unknown outputs {sorted(unknown)}; valid: {', '.join(OUTPUTS)}")
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise ValueError(f'segment() needs an (H, W, 3) uint8 RGB image, got '
                             f'{rgb.dtype} {rgb.shape}')
        h, w = rgb.shape[:2]
        src, x = self._prepare(rgb)
        t1 = time.perf_counter()
        uncertainty = None
        if self.mc_samples:
            scores, uncertainty = self.model.mc_predict(x, self.mc_samples)
        else:
            scores = self._forward(x)
        self._sync()
        infer_s = time.perf_counter() - t1
        on_host = self._outputs_on_host
        arrays = {}

        def ready(name, tensor):
            arrays[name] = tensor
            if on_host:
                arrays[name] = tensor.numpy() if isinstance(tensor, torch.Tensor) else tensor
                if emit is not None:
                    emit(name, arrays[name])

        size = self.input_size if at_network else (h, w)
        if self._cv2 is not None and (self.upsample == 'mask' or size == self.input_size):
            image = rgb if size == (h, w) else src
            self._finish_cv2(scores, uncertainty, image, want, alpha, size, ready)
            return Result(infer_s=infer_s, total_s=time.perf_counter() - t0, **arrays)
        scores = scores.float()
        if at_network:
            src = _network_image(src, self)
        elif isinstance(src, np.ndarray):  # OpenCV resized the input; 'logits' needs the frame
            src = _from_numpy(np.ascontiguousarray(rgb))
        h, w = size
        resize = (h, w) != self.input_size
        if resize and self.upsample == 'logits':
            # Exact: bilinear class scores at full resolution, then argmax (costs ~K x).
            scores = F.interpolate(scores, size=(h, w), mode='bilinear', align_corners=False)
        # max() gives the argmax and the top score in one pass (faster than argmax here).
        top, mask = scores[0].max(0)
        mask = mask.to(torch.uint8)
        if resize and self.upsample == 'mask' and want & {'mask', 'color', 'overlay'}:
            # Fast: argmax at network resolution, nearest-neighbour to the image.
            mask = F.interpolate(mask[None, None], size=(h, w), mode='nearest')[0, 0]
        if 'mask' in want:
            ready('mask', mask)
        if want & {'color', 'overlay'}:
            color = colorize(mask, self._lut)
            if 'color' in want:
                ready('color', color)
            if 'overlay' in want:
                ready('overlay', blend(src, color, alpha))
        if 'confidence' in want:
            if self.mc_samples:
                conf = top  # scores are already probabilities
            else:
                # max softmax = 1 / sum(exp(s - max s)), without the full softmax tensor.
                conf = (scores[0] - top).exp_().sum(0).reciprocal_()
            ready('confidence', self._full(conf.float(), h, w))
        if 'uncertainty' in want and uncertainty is not None:
            ready('uncertainty', self._full(uncertainty[0].float(), h, w))
        if not on_host:
            arrays = _to_host(arrays)
            if emit is not None:
                for name, arr in arrays.items():
                    emit(name, arr)
        return Result(infer_s=infer_s, total_s=time.perf_counter() - t0, **arrays)


def _network_image(src, seg):
    """Return the frame at the network input size, uint8 (H, W, 3), on the device."""
    if tuple(src.shape[:2]) == seg.input_size:
        return src
    if isinstance(src, np.ndarray):  # the OpenCV path already resized it
        return _from_numpy(np.ascontiguousarray(src)).to(seg.device)
    img = F.interpolate(src.permute(2, 0, 1).unsqueeze(0).float(), size=seg.input_size,
                        mode='bilinear', align_corners=False, antialias=True)
    return img[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8)


def blend_uint8(rgb, color, alpha, cv2):
    """(1 - alpha) * rgb + alpha * color, rounded, in uint8 with OpenCV."""
    if alpha <= 0:
        return rgb.copy()
    if alpha >= 1:
        return color.copy()
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, color, alpha, 0.0)


def _to_host(tensors):
    """Bring device tensors to numpy in one copy of one packed byte buffer."""
    if not tensors:
        return {}
    flat = [v.contiguous().view(torch.uint8).reshape(-1) for v in tensors.values()]
    host = torch.cat(flat).cpu().numpy()
    arrays, offset = {}, 0
    for (k, v), f in zip(tensors.items(), flat):
        n = f.numel()
        dtype = np.uint8 if v.dtype == torch.uint8 else np.float32
        arrays[k] = host[offset:offset + n].view(dtype).reshape(tuple(v.shape))
        offset += n
    return arrays

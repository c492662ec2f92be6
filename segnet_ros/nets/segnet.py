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
SegNet encoder-decoders (Badrinarayanan et al., TPAMI 2017) in PyTorch.

``SegNet`` is the paper's VGG16-BN encoder with a mirrored decoder that upsamples with the
max-pooling indices; ``SegNetBasic`` is the paper's 4+4 layer 7x7 variant. Both accept any
input size (odd sizes included, pools round up as Caffe does) and return logits at the input
size. ``width`` scales every channel count for light models; ``bayesian`` adds the Monte
Carlo dropout of Bayesian SegNet.
"""

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

# VGG16 conv widths per encoder block; the decoder mirrors them.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LRN_INPUTS = ('raw', 'normalised')


def scaled(channels, width):
    """Return a channel count scaled by ``width``, at least 8 and a multiple of 4."""
    return max(8, int(round(channels * width / 4.0)) * 4)


def conv_bn_relu(cin, cout, kernel=3, relu=True):
    """Conv -> BatchNorm (-> ReLU), the unit of every SegNet layer."""
    layers = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2),
              nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def max_pool(x):
    """2x2/2 max-pool rounding up like Caffe; returns the pooled map and argmax indices."""
    return F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)


def max_unpool(x, indices, size):
    """
    Place each value back where its pool found it, zeros elsewhere.

    Eager, this is ``max_unpool2d``: it keeps channels-last tensors channels-last, and with
    the next conv took 1.3 ms against 4.0 ms for the scatter at the light model's last
    stage (16 x 360 x 480, bf16, 2 CPU threads); both place every value identically.
    Exporting to ONNX or tracing (``torch.compile``, ``torch.jit``) gets the scatter: it
    exports as ScatterElements and traces without shape hints.
    """
    if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling()):
        return F.max_unpool2d(x, indices, 2, 2, output_size=tuple(size))
    return scatter_unpool(x, indices, size)


def scatter_unpool(x, indices, size):
    """``max_unpool`` as a scatter over the flattened planes (for export and tracing)."""
    n, c = x.shape[:2]
    out = x.new_zeros((n, c, size[0] * size[1]))
    out.scatter_(2, indices.flatten(2), x.flatten(2))
    return out.view(n, c, size[0], size[1])


@torch.no_grad()
def fold_batchnorm(model):
    """
    Fold every eval-mode BatchNorm that follows a conv into the conv's weights, in place.

    For inference only: the conv then gives what conv + BatchNorm gave (exactly in real
    arithmetic, to rounding in floats), without a pass over the activations per layer.
    The light model spent 16-26% of its CPU forward in BatchNorm. Returns the model.
    """
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) \
                    and not (conv.training or bn.training) and bn.track_running_stats:
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return model


@torch.no_grad()
def he_init(model):
    """
    Initialise every conv as the SegNet prototxts do (Caffe ``msra`` filler); return ``model``.

    Weights are drawn from N(0, 2 / fan_in) with fan_in = in_channels x kernel area (He et
    al.), biases start at zero. BatchNorm keeps scale 1 and shift 0.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class FloatLRN(nn.LocalResponseNorm):
    """LocalResponseNorm computed in float32: torch's CPU kernel has no bf16 version."""

    def forward(self, x):
        """Return the LRN of ``x`` in ``x``'s dtype."""
        return super().forward(x.float()).to(x.dtype)


class RawPixelLRN(nn.Module):
    """
    Local response normalisation on raw 0..255 pixels, as SegNet-Basic's Caffe model applies it.

    The network is fed normalised input ``(x / 255 - mean) / std``; this layer undoes that,
    normalises across channels on the 0..255 values (where it has an effect: on normalised
    input it is within 0.02% of the identity) and normalises the result again, so that the
    first conv sees the scale it would without the layer.
    """

    def __init__(self, mean, std, size=5, alpha=1e-4, beta=0.75):
        super().__init__()
        self.lrn = FloatLRN(size, alpha=alpha, beta=beta)
        # Not persistent: the model file's metadata holds mean and std.
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, x):
        """Return the normalised input after LRN on its raw pixel values."""
        raw = (x.float() * self.std + self.mean) * 255
        return ((self.lrn(raw) / 255 - self.mean) / self.std).to(x.dtype)


class MCDropout(nn.Dropout):
    """Dropout that stays on while Monte Carlo sampling, even in eval mode."""

    sampling = False

    def forward(self, x):
        """Drop when training or sampling."""
        return F.dropout(x, self.p, self.training or self.sampling, self.inplace)


class _EncoderDecoder(nn.Module):
    """Shared forward: encode with index-keeping pools, decode with index unpooling."""

    # Build options that change what the model computes at inference (model files keep them).
    net_options = None

    def forward(self, x):
        """Return per-class logits (N, K, H, W) at the input size."""
        self._check_input(x)
        pooled = []
        x = self._encode(self.stem(x), pooled, 0, len(self.encoder))
        return self._decode(x, pooled)

    def _check_input(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects a (N, {self.in_channels}, H, W) tensor, '
                f'got shape {tuple(x.shape)}')

    def _encode(self, x, pooled, start, stop):
        """Run encoder stages [start, stop), appending (pool indices, size) to ``pooled``."""
        for i in range(start, stop):
            x = self.encoder[i](x)
            size = x.shape[-2:]
            x, idx = max_pool(x)
            pooled.append((idx, size))
            x = self.encoder_dropout[i](x)
        return x

    def _decode(self, x, pooled):
        """Unpool with ``pooled`` (consumed) through every decoder stage, then classify."""
        for block, drop in zip(self.decoder, self.decoder_dropout):
            idx, size = pooled.pop()
            x = block(max_unpool(x, idx, size))
            x = drop(x)
        return self.classifier(x)

    @torch.no_grad()
    def mc_predict(self, x, samples=8, batch=8):
        """
        Monte Carlo dropout inference (Bayesian SegNet).

        Runs ``samples`` stochastic passes with dropout on and returns ``(mean_prob,
        uncertainty)``: the mean softmax (N, K, H, W), the prediction, and the per-pixel
        variance of the softmax samples averaged over classes (N, H, W), the uncertainty.
        The encoder stages before the first dropout are deterministic, so they run once;
        the rest runs up to ``batch`` samples at a time as one batch.
        """
        drops = [m for m in self.modules() if isinstance(m, MCDropout)]
        if not drops:
            raise ValueError('mc_predict needs a Bayesian model (built with bayesian=True)')
        if samples < 1:
            raise ValueError(f'samples must be >= 1, got {samples}')
        self._check_input(x)
        first = next(i for i, d in enumerate(self.encoder_dropout) if isinstance(d, MCDropout))
        for m in drops:
            m.sampling = True
        try:
            shared = []
            h = self._encode(self.stem(x), shared, 0, first)
            fmt = torch.channels_last if h.is_contiguous(memory_format=torch.channels_last) \
                and not h.is_contiguous() else torch.contiguous_format
            n = x.shape[0]
            total = total_sq = None
            done = 0
            while done < samples:
                s = min(batch, samples - done)
                pooled = [(idx.repeat(s, 1, 1, 1), size) for idx, size in shared]
                y = self._encode(h.repeat(s, 1, 1, 1).contiguous(memory_format=fmt), pooled,
                                 first, len(self.encoder))
                p = torch.softmax(self._decode(y, pooled).float(), dim=1)
                p = p.reshape(s, n, *p.shape[1:])
                total = p.sum(0) if total is None else total + p.sum(0)
                sq = (p * p).sum(0)
                total_sq = sq if total_sq is None else total_sq + sq
                done += s
        finally:
            for m in drops:
                m.sampling = False
        mean = total / samples
        var = (total_sq / samples - mean * mean).clamp_min_(0)
        return mean, var.mean(dim=1)

    @property
    def bayesian(self):
        """Return True when the model carries Monte Carlo dropout."""
        return any(isinstance(m, MCDropout) for m in self.modules())


def _dropouts(flags, p, bayesian, train_p):
    """Monte Carlo dropout for Bayesian models, else plain dropout of ``train_p`` or none."""
    if bayesian and train_p:
        raise ValueError('a Bayesian model already drops out; leave its dropout option at 0')
    if not 0.0 <= train_p < 1.0:
        raise ValueError(f'dropout must be in [0, 1), got {train_p!r}')
    return nn.ModuleList(
        (MCDropout(p) if bayesian else nn.Dropout(train_p)) if f and (bayesian or train_p)
        else nn.Identity() for f in flags)


class SegNet(_EncoderDecoder):
    """
    SegNet: VGG16-BN encoder, mirrored decoder, index unpooling, 3x3 classifier.

    Arguments of the constructor:
        num_classes: output classes K.
        width: channel multiplier (1.0 is the paper's model; 0.25 is a light CPU model).
        bayesian: add dropout p=0.5 after pools 3-5 and at the end of decoder blocks 5-3,
            as in Bayesian SegNet, for Monte Carlo sampling with ``mc_predict``.
        in_channels: input channels.
        dropout: probability of the Bayesian dropout layers.
        train_dropout: in a non-Bayesian model, ordinary dropout (training only) of this
            probability at the same places, the end of the deeper layers (paper section 4).

    For example::
        >>> net = SegNet(11, width=0.25).eval()
        >>> net(torch.zeros(1, 3, 45, 61)).shape
        torch.Size([1, 11, 45, 61])

    """

    def __init__(self, num_classes, width=1.0, bayesian=False, in_channels=3, dropout=0.5,
                 train_dropout=0.0):
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Identity()
        blocks = [[scaled(c, width) for c in b] for b in VGG16_BLOCKS]
        encoder, cin = [], in_channels
        for b in blocks:
            layers = []
            for c in b:
                layers.append(conv_bn_relu(cin, c))
                cin = c
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        # Decoder block i mirrors encoder block i: same widths reversed, ending on the
        # width of the block below it so the next unpool receives matching channels.
        decoder = []
        for i in reversed(range(len(blocks))):
            outs = list(reversed(blocks[i]))
            outs = outs[1:] + [blocks[i - 1][-1] if i > 0 else blocks[0][0]]
            if i == 0:
                outs = outs[:-1]  # the last block's final conv is the classifier
            layers = []
            for c in outs:
                layers.append(conv_bn_relu(cin, c))
                cin = c
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(cin, num_classes, 3, padding=1)
        deep = [False, False, True, True, True]
        self.encoder_dropout = _dropouts(deep, dropout, bayesian, train_dropout)
        self.decoder_dropout = _dropouts(deep[::-1], dropout, bayesian, train_dropout)


class SegNetBasic(_EncoderDecoder):
    """
    SegNet-Basic: 4 encoders of 7x7 conv+BN+ReLU, 4 decoders of 7x7 conv+BN, 1x1 classifier.

    The input passes through local response normalisation (size 5, alpha 1e-4, beta 0.75)
    as in the paper's tutorial model: with ``lrn='raw'`` on the raw 0..255 pixels as there
    (the input is de-normalised with ``mean`` and ``std`` for it), with ``'normalised'`` on
    the normalised input, where it does next to nothing (models trained before the option).
    ``bayesian`` puts dropout after pools 3-4 and at the end of decoder blocks 4-3;
    ``train_dropout`` puts ordinary dropout there in a non-Bayesian model.
    """

    def __init__(self, num_classes, width=1.0, bayesian=False, in_channels=3, dropout=0.5,
                 depth=4, train_dropout=0.0, lrn='raw', mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.in_channels = in_channels
        if lrn not in LRN_INPUTS:
            raise ValueError(f"lrn must be one of {', '.join(LRN_INPUTS)}, got {lrn!r}")
        if lrn == 'raw' and not (len(mean) == len(std) == in_channels):
            raise ValueError(f'lrn raw needs {in_channels} means and stds')
        self.stem = RawPixelLRN(mean, std) if lrn == 'raw' else \
            FloatLRN(5, alpha=1e-4, beta=0.75)
        self.net_options = {'lrn': lrn}
        c = scaled(64, width)
        self.encoder = nn.ModuleList(
            conv_bn_relu(in_channels if i == 0 else c, c, 7) for i in range(depth))
        self.decoder = nn.ModuleList(conv_bn_relu(c, c, 7, relu=False) for _ in range(depth))
        self.classifier = nn.Conv2d(c, num_classes, 1)
        half = depth // 2
        self.encoder_dropout = _dropouts([i >= half for i in range(depth)], dropout, bayesian,
                                         train_dropout)
        self.decoder_dropout = _dropouts([i < half for i in range(depth)], dropout, bayesian,
                                         train_dropout)

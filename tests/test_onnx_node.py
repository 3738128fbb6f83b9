"""ONNX's own node tests (``onnx.backend.test.loader.load_model_tests(kind="node")``) through
import + the chainrule runtime, with ONNX's tolerances (rtol 1e-3, atol 1e-7) and exact dtype
and shape, and through onnxruntime on the same cases, fed the same way.

Every input is fed as an input, as ``onnx.backend.test`` feeds it: a Reshape target, reduction
axes, a OneHot depth or Slice bounds that arrive as graph inputs make the model a ``KeyedModel``,
which ``cr.compile`` specialises on their values at call time (``frontends/onnx/keys.py``).

Every case whose nodes all use ops the importer supports must pass, unless it is listed in
``UNSUPPORTED`` below with the reason; a listed case must be refused with a ``ChainruleError``
containing that reason (so the list cannot go stale, and a listed case is never a wrong
answer). For each op, chainrule must pass at least as many cases as onnxruntime, unless the op is
in ``BEHIND_ORT`` with the reason (an exact list too), and more cases overall. The per-op counts
(chainrule / onnxruntime / cases) are printed at the end of the pytest run, and recorded in
docs/onnx.md between ``<!-- onnx-node-counts -->`` markers (a test checks them; regenerate on
purpose with ``CHAINRULE_REGEN_GOLDEN=1``).
"""
import collections
import functools
import os
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import chainrule as cr
import golden
import onnx_summary
from chainrule.frontends.onnx.importer import import_onnx
from chainrule.frontends.onnx.ops import IMPORTS
from chainrule.ir.errors import ChainruleError

#: Why each kind of listed case fails (the value in UNSUPPORTED is found in the error message).
REASONS = {
    "element type": "the tensor type (uint16/32/64, int16, bfloat16, float8, int4, string...) has no chainrule DType",
    "select_last_index=1": "ArgMax's select_last_index=1 is not implemented",
    "not a tensor": "sequence and optional values are not supported",
    "is outside": "OneHot with out-of-range indices: chainrule's OneHot raises instead of writing a zero row",
    "chainrule's pools are 2-D": "1-D and 3-D pools are not implemented (the CNN ops are 2-D, NCHW)",
    "chainrule's Conv is 2-D": "1-D and 3-D convolutions are not implemented (the CNN ops are 2-D, NCHW)",
    "ConvTranspose with auto_pad": "ConvTranspose's auto_pad is not imported (explicit pads are)",
    "ConvTranspose with output_shape": "ConvTranspose's output_shape is not imported (pads and output_padding are)",
    "MaxPool's Indices output": "MaxPool's second output (the arg-max indices) is not imported",
    "needs a float operand": "integer pools: chainrule's pools take float operands",
    "opset 1 is not supported": "models before opset 7 are refused (broadcasting was then an attribute, "
                                "broadcast=1 with axis, which chainrule does not read)",
}

UNSUPPORTED = {
    'test_averagepool_1d_default': "chainrule's pools are 2-D",
    'test_averagepool_3d_default': "chainrule's pools are 2-D",
    'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_False': "chainrule's pools are 2-D",
    'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_True': "chainrule's pools are 2-D",
    'test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_False': "chainrule's pools are 2-D",
    'test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True': "chainrule's pools are 2-D",
    'test_averagepool_3d_dilations_small': "chainrule's pools are 2-D",
    'test_causal_conv_with_state_decode_step_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_with_bias_and_past_state_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_with_past_state_expanded': "chainrule's Conv is 2-D",
    'test_convtranspose_1d': "chainrule's Conv is 2-D",
    'test_convtranspose_3d': "chainrule's Conv is 2-D",
    'test_convtranspose_autopad_same': 'ConvTranspose with auto_pad',
    'test_convtranspose_kernel_shape': 'ConvTranspose with output_shape',
    'test_convtranspose_output_shape': 'ConvTranspose with output_shape',
    'test_maxpool_1d_default': "chainrule's pools are 2-D",
    'test_maxpool_2d_uint8': 'needs a float operand',
    'test_maxpool_3d_default': "chainrule's pools are 2-D",
    'test_maxpool_3d_dilations': "chainrule's pools are 2-D",
    'test_maxpool_3d_dilations_use_ref_impl': "chainrule's pools are 2-D",
    'test_maxpool_3d_dilations_use_ref_impl_large': "chainrule's pools are 2-D",
    'test_maxpool_with_argmax_2d_precomputed_pads': "MaxPool's Indices output",
    'test_maxpool_with_argmax_2d_precomputed_strides': "MaxPool's Indices output",
    'test_add_int16': 'element type INT16',
    'test_add_uint16': 'element type UINT16',
    'test_add_uint32': 'element type UINT32',
    'test_add_uint64': 'element type UINT64',
    'test_argmax_no_keepdims_example_select_last_index': 'select_last_index=1',
    'test_argmax_no_keepdims_random_select_last_index': 'select_last_index=1',
    'test_argmax_keepdims_example_select_last_index': 'select_last_index=1',
    'test_argmax_keepdims_random_select_last_index': 'select_last_index=1',
    'test_argmax_default_axis_example_select_last_index': 'select_last_index=1',
    'test_argmax_default_axis_random_select_last_index': 'select_last_index=1',
    'test_argmax_negative_axis_keepdims_example_select_last_index': 'select_last_index=1',
    'test_argmax_negative_axis_keepdims_random_select_last_index': 'select_last_index=1',
    'test_cast_FLOAT_to_BFLOAT16': 'element type BFLOAT16',
    'test_cast_BFLOAT16_to_FLOAT': 'element type BFLOAT16',
    'test_cast_FLOAT_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_cast_FLOAT16_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_cast_FLOAT_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_cast_FLOAT16_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_cast_FLOAT8E4M3FN_to_FLOAT': 'element type FLOAT8E4M3FN',
    'test_cast_FLOAT8E4M3FN_to_FLOAT16': 'element type FLOAT8E4M3FN',
    'test_cast_FLOAT8E4M3FNUZ_to_FLOAT': 'element type FLOAT8E4M3FNUZ',
    'test_cast_FLOAT8E4M3FNUZ_to_FLOAT16': 'element type FLOAT8E4M3FNUZ',
    'test_cast_FLOAT_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_cast_FLOAT16_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_cast_FLOAT_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_cast_FLOAT16_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_cast_FLOAT8E5M2_to_FLOAT': 'element type FLOAT8E5M2',
    'test_cast_FLOAT8E5M2_to_FLOAT16': 'element type FLOAT8E5M2',
    'test_cast_FLOAT8E5M2FNUZ_to_FLOAT': 'element type FLOAT8E5M2FNUZ',
    'test_cast_FLOAT8E5M2FNUZ_to_FLOAT16': 'element type FLOAT8E5M2FNUZ',
    'test_cast_FLOAT_to_UINT4': 'element type UINT4',
    'test_cast_FLOAT16_to_UINT4': 'element type UINT4',
    'test_cast_FLOAT_to_INT4': 'element type INT4',
    'test_cast_FLOAT16_to_INT4': 'element type INT4',
    'test_cast_UINT4_to_FLOAT': 'element type UINT4',
    'test_cast_UINT4_to_FLOAT16': 'element type UINT4',
    'test_cast_UINT4_to_UINT8': 'element type UINT4',
    'test_cast_INT4_to_FLOAT': 'element type INT4',
    'test_cast_INT4_to_FLOAT16': 'element type INT4',
    'test_cast_INT4_to_INT8': 'element type INT4',
    'test_cast_FLOAT4E2M1_to_FLOAT': 'element type FLOAT4E2M1',
    'test_cast_FLOAT4E2M1_to_FLOAT16': 'element type FLOAT4E2M1',
    'test_cast_FLOAT_to_FLOAT4E2M1': 'element type FLOAT4E2M1',
    'test_cast_FLOAT16_to_FLOAT4E2M1': 'element type FLOAT4E2M1',
    'test_cast_FLOAT_to_UINT2': 'element type UINT2',
    'test_cast_FLOAT16_to_UINT2': 'element type UINT2',
    'test_cast_FLOAT_to_INT2': 'element type INT2',
    'test_cast_FLOAT16_to_INT2': 'element type INT2',
    'test_cast_UINT2_to_FLOAT': 'element type UINT2',
    'test_cast_UINT2_to_FLOAT16': 'element type UINT2',
    'test_cast_UINT2_to_UINT8': 'element type UINT2',
    'test_cast_INT2_to_FLOAT': 'element type INT2',
    'test_cast_INT2_to_FLOAT16': 'element type INT2',
    'test_cast_INT2_to_INT8': 'element type INT2',
    'test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_cast_no_saturate_FLOAT_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_cast_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_cast_e8m0_FLOAT_to_FLOAT8E8M0': 'element type FLOAT8E8M0',
    'test_cast_e8m0_FLOAT16_to_FLOAT8E8M0': 'element type FLOAT8E8M0',
    'test_cast_e8m0_FLOAT8E8M0_to_FLOAT': 'element type FLOAT8E8M0',
    'test_cast_e8m0_FLOAT8E8M0_to_FLOAT16': 'element type FLOAT8E8M0',
    'test_castlike_FLOAT_to_BFLOAT16_expanded': 'element type BFLOAT16',
    'test_castlike_BFLOAT16_to_FLOAT_expanded': 'element type BFLOAT16',
    'test_castlike_FLOAT_to_FLOAT8E4M3FN_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT16_to_FLOAT8E4M3FN_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT_to_FLOAT8E4M3FNUZ_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT16_to_FLOAT8E4M3FNUZ_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT8E4M3FN_to_FLOAT_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT8E4M3FN_to_FLOAT16_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT8E4M3FNUZ_to_FLOAT_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT8E4M3FNUZ_to_FLOAT16_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT_to_FLOAT8E5M2_expanded': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT16_to_FLOAT8E5M2_expanded': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT_to_FLOAT8E5M2FNUZ_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT16_to_FLOAT8E5M2FNUZ_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT8E5M2_to_FLOAT_expanded': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT8E5M2_to_FLOAT16_expanded': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT8E5M2FNUZ_to_FLOAT_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT8E5M2FNUZ_to_FLOAT16_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT_to_UINT4_expanded': 'element type UINT4',
    'test_castlike_FLOAT16_to_UINT4_expanded': 'element type UINT4',
    'test_castlike_FLOAT_to_INT4_expanded': 'element type INT4',
    'test_castlike_FLOAT16_to_INT4_expanded': 'element type INT4',
    'test_castlike_UINT4_to_FLOAT_expanded': 'element type UINT4',
    'test_castlike_UINT4_to_FLOAT16_expanded': 'element type UINT4',
    'test_castlike_UINT4_to_UINT8_expanded': 'element type UINT4',
    'test_castlike_INT4_to_FLOAT_expanded': 'element type INT4',
    'test_castlike_INT4_to_FLOAT16_expanded': 'element type INT4',
    'test_castlike_INT4_to_INT8_expanded': 'element type INT4',
    'test_castlike_FLOAT4E2M1_to_FLOAT_expanded': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT4E2M1_to_FLOAT16_expanded': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT_to_FLOAT4E2M1_expanded': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT16_to_FLOAT4E2M1_expanded': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT_to_UINT2_expanded': 'element type UINT2',
    'test_castlike_FLOAT16_to_UINT2_expanded': 'element type UINT2',
    'test_castlike_FLOAT_to_INT2_expanded': 'element type INT2',
    'test_castlike_FLOAT16_to_INT2_expanded': 'element type INT2',
    'test_castlike_UINT2_to_FLOAT_expanded': 'element type UINT2',
    'test_castlike_UINT2_to_FLOAT16_expanded': 'element type UINT2',
    'test_castlike_UINT2_to_UINT8_expanded': 'element type UINT2',
    'test_castlike_INT2_to_FLOAT_expanded': 'element type INT2',
    'test_castlike_INT2_to_FLOAT16_expanded': 'element type INT2',
    'test_castlike_INT2_to_INT8_expanded': 'element type INT2',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FN_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2_expanded': 'element type FLOAT8E5M2',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FN_expanded': 'element type FLOAT8E4M3FN',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ_expanded': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2_expanded': 'element type FLOAT8E5M2',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ_expanded': 'element type FLOAT8E5M2FNUZ',
    'test_div_int16': 'element type INT16',
    'test_div_uint16': 'element type UINT16',
    'test_div_uint32': 'element type UINT32',
    'test_div_uint64': 'element type UINT64',
    'test_equal_int16': 'element type INT16',
    'test_equal_uint16': 'element type UINT16',
    'test_equal_uint32': 'element type UINT32',
    'test_equal_uint64': 'element type UINT64',
    'test_equal_string': 'element type STRING',
    'test_equal_string_broadcast': 'element type STRING',
    'test_greater_int16': 'element type INT16',
    'test_greater_uint16': 'element type UINT16',
    'test_greater_uint32': 'element type UINT32',
    'test_greater_uint64': 'element type UINT64',
    'test_identity_sequence': 'not a tensor',
    'test_identity_opt': 'not a tensor',
    'test_mul_int16': 'element type INT16',
    'test_mul_uint16': 'element type UINT16',
    'test_mul_uint32': 'element type UINT32',
    'test_mul_uint64': 'element type UINT64',
    'test_onehot_out_of_range_indices': 'is outside',
    'test_onehot_with_bfloat16_values': 'element type BFLOAT16',
    'test_pow_types_float32_uint64': 'element type UINT64',
    'test_pow_types_float32_uint32': 'element type UINT32',
    'test_sub_int16': 'element type INT16',
    'test_sub_uint16': 'element type UINT16',
    'test_sub_uint32': 'element type UINT32',
    'test_sub_uint64': 'element type UINT64',
    # cases of the elementwise and activation ops (and of expansions that use them)
    'test_castlike_FLOAT_to_BFLOAT16': 'element type BFLOAT16',
    'test_castlike_BFLOAT16_to_FLOAT': 'element type BFLOAT16',
    'test_castlike_FLOAT_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT16_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT16_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT8E4M3FN_to_FLOAT': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT8E4M3FN_to_FLOAT16': 'element type FLOAT8E4M3FN',
    'test_castlike_FLOAT8E4M3FNUZ_to_FLOAT': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT8E4M3FNUZ_to_FLOAT16': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_FLOAT_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT16_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT16_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT8E5M2_to_FLOAT': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT8E5M2_to_FLOAT16': 'element type FLOAT8E5M2',
    'test_castlike_FLOAT8E5M2FNUZ_to_FLOAT': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT8E5M2FNUZ_to_FLOAT16': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_FLOAT_to_UINT4': 'element type UINT4',
    'test_castlike_FLOAT16_to_UINT4': 'element type UINT4',
    'test_castlike_FLOAT_to_INT4': 'element type INT4',
    'test_castlike_FLOAT16_to_INT4': 'element type INT4',
    'test_castlike_UINT4_to_FLOAT': 'element type UINT4',
    'test_castlike_UINT4_to_FLOAT16': 'element type UINT4',
    'test_castlike_UINT4_to_UINT8': 'element type UINT4',
    'test_castlike_INT4_to_FLOAT': 'element type INT4',
    'test_castlike_INT4_to_FLOAT16': 'element type INT4',
    'test_castlike_INT4_to_INT8': 'element type INT4',
    'test_castlike_FLOAT4E2M1_to_FLOAT': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT4E2M1_to_FLOAT16': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT_to_FLOAT4E2M1': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT16_to_FLOAT4E2M1': 'element type FLOAT4E2M1',
    'test_castlike_FLOAT_to_UINT2': 'element type UINT2',
    'test_castlike_FLOAT16_to_UINT2': 'element type UINT2',
    'test_castlike_FLOAT_to_INT2': 'element type INT2',
    'test_castlike_FLOAT16_to_INT2': 'element type INT2',
    'test_castlike_UINT2_to_FLOAT': 'element type UINT2',
    'test_castlike_UINT2_to_FLOAT16': 'element type UINT2',
    'test_castlike_UINT2_to_UINT8': 'element type UINT2',
    'test_castlike_INT2_to_FLOAT': 'element type INT2',
    'test_castlike_INT2_to_FLOAT16': 'element type INT2',
    'test_castlike_INT2_to_INT8': 'element type INT2',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FN': 'element type FLOAT8E4M3FN',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ': 'element type FLOAT8E4M3FNUZ',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2': 'element type FLOAT8E5M2',
    'test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ': 'element type FLOAT8E5M2FNUZ',
    'test_causal_conv_with_state_silu_with_past_state_expanded': "chainrule's Conv is 2-D",
    'test_celu_bfloat16': 'element type BFLOAT16',
    'test_celu_bfloat16_expanded': 'element type BFLOAT16',
    'test_greater_equal_int16': 'element type INT16',
    'test_greater_equal_int16_expanded': 'element type INT16',
    'test_greater_equal_uint16': 'element type UINT16',
    'test_greater_equal_uint16_expanded': 'element type UINT16',
    'test_greater_equal_uint32': 'element type UINT32',
    'test_greater_equal_uint32_expanded': 'element type UINT32',
    'test_greater_equal_uint64': 'element type UINT64',
    'test_greater_equal_uint64_expanded': 'element type UINT64',
    'test_less_int16': 'element type INT16',
    'test_less_uint16': 'element type UINT16',
    'test_less_uint32': 'element type UINT32',
    'test_less_uint64': 'element type UINT64',
    'test_less_equal_int16': 'element type INT16',
    'test_less_equal_int16_expanded': 'element type INT16',
    'test_less_equal_uint16': 'element type UINT16',
    'test_less_equal_uint16_expanded': 'element type UINT16',
    'test_less_equal_uint32': 'element type UINT32',
    'test_less_equal_uint32_expanded': 'element type UINT32',
    'test_less_equal_uint64': 'element type UINT64',
    'test_less_equal_uint64_expanded': 'element type UINT64',
    'test_max_int16': 'element type INT16',
    'test_max_uint16': 'element type UINT16',
    'test_max_uint32': 'element type UINT32',
    'test_max_uint64': 'element type UINT64',
    'test_min_int16': 'element type INT16',
    'test_min_uint16': 'element type UINT16',
    'test_min_uint32': 'element type UINT32',
    'test_min_uint64': 'element type UINT64',
    'test_mod_mixed_sign_int16': 'element type INT16',
    'test_mod_uint16': 'element type UINT16',
    'test_mod_uint32': 'element type UINT32',
    'test_mod_uint64': 'element type UINT64',
    'test_not_2d': 'opset 1 is not supported',
    'test_not_3d': 'opset 1 is not supported',
    'test_not_4d': 'opset 1 is not supported',
    'test_range_bfloat16_type_positive_delta': 'element type BFLOAT16',
    # cases the merged op families reach together (attention and causal-conv expansions)
    'test_attention_4d_causal_bf16_expanded': 'element type BFLOAT16',
    'test_attention_4d_padded_kv_bf16_expanded': 'element type BFLOAT16',
    'test_attention_4d_causal_padded_kv_bf16_expanded': 'element type BFLOAT16',
    'test_attention_4d_attn_mask_causal_bf16_expanded': 'element type BFLOAT16',
    'test_attention_3d_causal_bf16_expanded': 'element type BFLOAT16',
    'test_causal_conv_with_state_basic_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_with_bias_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_silu_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_swish_alias_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_kernel_size_one_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_b1_c1_degenerate_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_short_input_no_past_state_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_fp16_expanded': "chainrule's Conv is 2-D",
    'test_causal_conv_with_state_silu_fp16_expanded': "chainrule's Conv is 2-D",
}

#: Dropout in training mode: ONNX's expected outputs come from one random mask, chainrule draws its
#: own (seeded, counter-based), so these cases check what the outputs mean instead of their values.
RANDOM_MASK = {'test_training_dropout', 'test_training_dropout_default', 'test_training_dropout_mask',
               'test_training_dropout_default_mask'}


def _arr(a):
    return numpy_helper.to_array(a) if hasattr(a, "HasField") else np.asarray(a)


def _load_cases():
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    out = []
    for c in cases:
        if c.model is None:
            continue
        nodes = c.model.graph.node
        if all(n.op_type in IMPORTS and n.domain in ("", "ai.onnx") for n in nodes):
            out.append(c)
    return out


CASES = _load_cases()

#: Ops for which onnxruntime passes more of ONNX's cases than chainrule, and why (the cases
#: chainrule refuses; an op listed here that is not behind fails the test, so the list is exact).
BEHIND_ORT = {
    "Add": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Sub": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Mul": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Div": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Mod": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Max": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Min": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Greater": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "GreaterOrEqual": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Less": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "LessOrEqual": "int16 and uint16/32/64 operands (element types without a chainrule DType)",
    "Equal": "int16, uint16/32/64 and string operands (element types without a chainrule DType)",
    "Not": "its node tests are opset-1 models, which the importer refuses",
    "ArgMax": "select_last_index=1",
    "AveragePool": "1-D and 3-D pools",
    "MaxPool": "1-D and 3-D pools, the Indices output, uint8 operands",
    "Conv": "1-D and 3-D convolutions",
    "ConvTranspose": "1-D and 3-D convolutions, auto_pad, output_shape",
    "OneHot": "out-of-range indices (ONNX writes a row of zeros)",
}


def _check(c, ins, got, want):
    """``got`` (a list of arrays) is the right answer for inputs ``ins`` (AssertionError if not)."""
    assert len(got) == len(want), f"{c.name}: {len(got)} outputs, expected {len(want)}"
    if c.name in RANDOM_MASK:
        _check_dropout(c, ins[0], got, want)
        return
    for a, b in zip(got, want):
        assert a.dtype == b.dtype, f"{c.name}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"{c.name}: shape {a.shape} != {b.shape}"
        np.testing.assert_allclose(a, b, rtol=c.rtol, atol=c.atol, err_msg=c.name)


def _run(c):
    """Import the case's model and run every data set, each input fed as an input."""
    exe = cr.compile(import_onnx(c.model))  # the default pipeline and executor, as a user compiles
    names = [vi.name for vi in c.model.graph.input]
    outs = [vi.name for vi in c.model.graph.output]
    for ins, want in c.data_sets:
        arrays = [_arr(a) for a in ins]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # ONNX's cases include log(0)
            got = exe.run(dict(zip(names, arrays)))
        _check(c, arrays, [got[n] for n in outs], list(map(_arr, want)))


def _run_ort(c):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # its refusals are counted, not logged
    sess = ort.InferenceSession(c.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [vi.name for vi in c.model.graph.input]
    for ins, want in c.data_sets:
        arrays = [_arr(a) for a in ins]
        _check(c, arrays, sess.run(None, dict(zip(names, arrays))), list(map(_arr, want)))


def _check_dropout(c, x, got, want):
    """Same dtypes and shapes; the kept elements scaled by ONNX's 1/(1 − ratio), the others 0; the
    mask output True exactly where y kept x; the fraction kept 1 − ratio within 4 standard errors."""
    for a, b in zip(got, want):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), c.name
    y, ref = got[0], want[0]
    scale = (ref[ref != 0] / x[ref != 0])[0]
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] * scale, rtol=1e-6, err_msg=c.name)
    keep = 1 / scale  # 1 − ratio
    assert abs(kept.mean() - keep) < 4 * np.sqrt(keep * (1 - keep) / kept.size), c.name
    if len(got) == 2:
        np.testing.assert_array_equal(got[1], kept, err_msg=c.name)


def _main_op(c):
    ops = [n.op_type for n in c.model.graph.node]
    name = re.sub(r"_expanded(_ver\d+)?$", "", c.name[5:])  # "..._expanded" is not an Exp case
    for op in sorted(set(ops), key=lambda o: (-len(o), o)):  # deterministic across hash seeds
        if re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower() in name or op.lower() in name.replace("_", ""):
            return op
    return ops[-1]


class Outcome:
    """How one engine did on one case: ``passed``, ``refused`` (it raised) or ``wrong`` (it ran
    and gave another answer), with the message."""

    def __init__(self, run, c):
        self.kind, self.error, self.message = "passed", None, ""
        try:
            run(c)
        except AssertionError as err:
            self.kind, self.error, self.message = "wrong", err, str(err)
        except Exception as err:  # onnxruntime's refusals are its own exception types
            self.kind, self.error, self.message = "refused", err, f"{type(err).__name__}: {err}"


@functools.lru_cache(maxsize=None)
def results():
    """{case name: (op, chainrule Outcome, onnxruntime Outcome)}, computed once for the module's tests."""
    pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
    return {c.name: (_main_op(c), Outcome(_run, c), Outcome(_run_ort, c)) for c in CASES}


def counts():
    """{op: [chainrule passes, onnxruntime passes, cases]}, sorted by op."""
    out = collections.defaultdict(lambda: [0, 0, 0])
    for op, mine, theirs in results().values():
        out[op][0] += mine.kind == "passed"
        out[op][1] += theirs.kind == "passed"
        out[op][2] += 1
    return dict(sorted(out.items()))


def counts_table() -> str:
    """The per-op table recorded in docs/onnx.md."""
    import onnxruntime
    rows = counts()
    total = [sum(r[k] for r in rows.values()) for k in range(3)]
    lines = [f"ONNX {onnx.__version__}'s node tests for the {len(rows)} ops chainrule imports, every input fed as an "
             f"input; cases passed by chainrule and by onnxruntime {onnxruntime.__version__}:", "",
             "| op | chainrule | onnxruntime | cases |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {op} | {a} | {b} | {n} |" for op, (a, b, n) in rows.items()]
    lines.append(f"| all | {total[0]} | {total[1]} | {total[2]} |")
    return "\n".join(lines) + "\n"


def test_node_cases_were_found():
    assert len(CASES) > 300, f"only {len(CASES)} ONNX node cases use supported ops"
    assert all(k in {c.name for c in CASES} for k in UNSUPPORTED), "UNSUPPORTED names a case that is not run"


def test_onnx_node_cases():
    failures = []
    for name, (op, mine, _) in results().items():
        if name in UNSUPPORTED:
            if mine.kind != "refused" or not isinstance(mine.error, ChainruleError):
                failures.append(f"{name}: listed as unsupported ({UNSUPPORTED[name]!r}) but {mine.kind}: "
                                f"{mine.message[:300]}")
            elif UNSUPPORTED[name] not in mine.message:
                failures.append(f"{name} fails for another reason than {UNSUPPORTED[name]!r}: {mine.message[:300]}")
        elif mine.kind != "passed":
            failures.append(f"{name}: {mine.kind}: {mine.message[:300]}")
    rows = counts()
    total = [sum(r[k] for r in rows.values()) for k in range(3)]
    onnx_summary.LINES[:] = [
        f"ONNX node tests (chainrule / onnxruntime / cases): {total[0]} / {total[1]} / {total[2]} over {len(rows)} ops",
        "  " + ", ".join(f"{op} {a}/{b}/{n}" for op, (a, b, n) in rows.items())]
    print("\n".join(onnx_summary.LINES))
    assert not failures, "ONNX node cases failed:\n" + "\n".join(failures)


def test_no_wrong_answers():
    """chainrule runs a case right or refuses it with a ChainruleError; it never answers wrongly."""
    wrong = [f"{name}: {mine.message[:300]}" for name, (_, mine, _) in results().items() if mine.kind == "wrong"]
    assert not wrong, "wrong answers:\n" + "\n".join(wrong)


def test_ops_behind_onnxruntime_are_listed():
    """No op falls behind onnxruntime unnoticed, and an op that catches up leaves BEHIND_ORT."""
    behind = {op: r for op, r in counts().items() if r[0] < r[1]}
    assert sorted(behind) == sorted(BEHIND_ORT), (
        f"ops behind onnxruntime (chainrule, onnxruntime, cases): {behind}; listed in BEHIND_ORT: {sorted(BEHIND_ORT)}")


@pytest.mark.xfail(bool(BEHIND_ORT), strict=True, reason="chainrule is behind onnxruntime on the ops in BEHIND_ORT")
def test_more_cases_pass_than_in_onnxruntime():
    """The goal: on every op, at least as many cases as onnxruntime, and more overall."""
    rows = counts()
    assert all(r[0] >= r[1] for r in rows.values())
    assert sum(r[0] for r in rows.values()) > sum(r[1] for r in rows.values())


def test_docs_table_matches_the_run():
    import onnxruntime
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "onnx.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = "<!-- onnx-node-counts -->\n", "<!-- /onnx-node-counts -->"
    i, j = text.index(start) + len(start), text.index(end)
    if golden.regenerating():
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text[:i] + counts_table() + text[j:])
        return
    recorded = text[i:j]
    made_with = f"ONNX {onnx.__version__}'s node tests", f"onnxruntime {onnxruntime.__version__}:"
    if not all(m in recorded for m in made_with):
        pytest.skip(f"docs/onnx.md's table was made with other onnx/onnxruntime versions than {made_with}")
    assert recorded == counts_table(), (f"docs/onnx.md's node-test table differs from this run (regenerate on "
                                        f"purpose with {golden.REGEN_ENV}=1):\n{counts_table()}")


def test_reasons_cover_the_list():
    unexplained = {k: v for k, v in UNSUPPORTED.items() if not any(v.startswith(r) for r in REASONS)}
    assert not unexplained, f"cases listed without a reason in REASONS: {unexplained}"

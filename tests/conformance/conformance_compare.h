// Output comparison for the ONNX conformance driver, with the tolerances of
// ONNX's own backend test runner (numpy.testing.assert_allclose with
// rtol=1e-3, atol=1e-7): floats within atol + rtol * |expected|, NaN equal to
// NaN, infinities exactly; integers, bools and fp8 bit patterns exactly;
// dtypes and shapes exactly.
#pragma once

#include <string>

#include "octet/tensor.h"

namespace octet::conformance {

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-7;
};

// Empty when `actual` matches `expected`; otherwise says how they differ
// (first mismatching element, how many differ, largest difference).
std::string CompareTensors(const Tensor& actual, const Tensor& expected,
                           const Tolerance& tolerance = {});

}  // namespace octet::conformance

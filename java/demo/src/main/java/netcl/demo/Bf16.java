package netcl.demo;

import java.lang.foreign.ValueLayout;

/** bfloat16 values, stored as the upper 16 bits of a float32, in native byte order like netcl's. */
final class Bf16 {
    static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT;

    private Bf16() {
    }

    /** Exact: every bf16 value is a float32 value. */
    static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Rounded to nearest even, like PyTorch's {@code tensor.to(torch.bfloat16)}; NaN stays NaN. */
    static short fromFloat(float value) {
        if (Float.isNaN(value)) {
            return (short) 0x7FC0;
        }
        int bits = Float.floatToRawIntBits(value);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}

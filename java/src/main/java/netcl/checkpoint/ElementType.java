package netcl.checkpoint;

/**
 * The element types of the safetensors format, under the names its header uses ({@code "F32"},
 * {@code "BF16"}, ...), with their width in bits. Data is little-endian. The sub-byte types
 * ({@link #F4}, {@link #F6_E2M3}, {@link #F6_E3M2}) pack their elements, so a tensor of them must
 * fill whole bytes.
 */
public enum ElementType {
    BOOL(8), F4(4), F6_E2M3(6), F6_E3M2(6), U8(8), I8(8), F8_E5M2(8), F8_E4M3(8), F8_E8M0(8),
    F8_E4M3FNUZ(8), F8_E5M2FNUZ(8), I16(16), U16(16), F16(16), BF16(16), I32(32), U32(32), F32(32),
    C64(64), F64(64), I64(64), U64(64);

    private final int bits;

    ElementType(int bits) {
        this.bits = bits;
    }

    /** Width of one element in bits. */
    public int bits() {
        return bits;
    }

    /** The type named {@code name} in a header, or {@code null} for a name this reader does not know. */
    static ElementType named(String name) {
        for (ElementType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }
}

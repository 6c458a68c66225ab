package netcl.checkpoint;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;

/** The one Jackson factory for checkpoint headers: strict JSON, duplicate names refused. */
final class Json {
    /** The reference implementation refuses longer headers; so do reader and writer here. */
    static final long MAX_HEADER_BYTES = 100_000_000;

    /**
     * Jackson's default limits would refuse legal headers (strings over 20 M characters) or allow
     * deeper nesting than any valid header has: a header is at most three levels deep (tensor,
     * shape) and so is param_groups (group, params).
     */
    static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxStringLength((int) MAX_HEADER_BYTES)
                    .maxNameLength((int) MAX_HEADER_BYTES)
                    .maxNestingDepth(16)
                    .build())
            .build();

    private Json() {
    }
}

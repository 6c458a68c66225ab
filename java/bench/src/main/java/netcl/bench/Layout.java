package netcl.bench;

import java.util.Locale;

/** How a parameter list's tensors lie in memory; the labels are netcl-bench's. */
enum Layout {
    /** Slices of one zero-copy block, one after the other: the layout netcl serves best. */
    CONTIGUOUS,
    /**
     * Each tensor allocated on its own (zero-copy aligned), as a program that allocates per layer
     * holds them: netcl then steps as many runs of memory as there are tensors.
     */
    SEPARATE;

    /** "contiguous" or "separate". */
    final String label = name().toLowerCase(Locale.ROOT);
}

package netcl.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The benchmark cases, as the tensor sizes (floats) of one parameter list. A case is a single
 * tensor of the given number of floats, "COUNTxNUMEL" (COUNT tensors of NUMEL floats each), or
 * "resnet50": the 161 parameter tensors of torchvision's ResNet-50, read from
 * native/bench/resnet50-shapes.txt (the file netcl-bench reads), whose path scripts/bench passes
 * as {@value #SHAPES_PROPERTY}.
 */
final class Sizes {
    /** The case of ResNet-50's parameter list; the others are a number of floats. */
    static final String RESNET50 = "resnet50";
    static final String SHAPES_PROPERTY = "netcl.bench.shapes";
    /**
     * Many small tensors, like the biases and norms of a small model: 1,000 of 100 floats each
     * (netcl-bench steps the same list from C).
     */
    static final String MANY_SMALL = "1000x100";

    private Sizes() {
    }

    /** The numel of every tensor of the case {@code size}. */
    static long[] of(String size) {
        if (RESNET50.equals(size)) {
            return resnet50();
        }
        int times = size.indexOf('x');
        if (times < 0) {
            return new long[] {Long.parseLong(size)};
        }
        long[] numels = new long[Integer.parseInt(size.substring(0, times))];
        Arrays.fill(numels, Long.parseLong(size.substring(times + 1)));
        return numels;
    }

    static long total(long[] numels) {
        long total = 0;
        for (long n : numels) {
            total += n;
        }
        return total;
    }

    /** Lines "name numel shape"; '#' starts a comment line. */
    private static long[] resnet50() {
        String file = System.getProperty(SHAPES_PROPERTY);
        if (file == null) {
            throw new IllegalStateException("the resnet50 case needs -D" + SHAPES_PROPERTY
                    + "=.../native/bench/resnet50-shapes.txt (scripts/bench sets it)");
        }
        try {
            List<String> lines = Files.readAllLines(Path.of(file));
            return lines.stream()
                    .filter(line -> !line.isBlank() && !line.startsWith("#"))
                    .mapToLong(line -> Long.parseLong(line.trim().split("\\s+")[1]))
                    .toArray();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the ResNet-50 shapes " + file, e);
        }
    }
}

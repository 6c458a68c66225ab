package netcl.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPInputStream;

/**
 * The UCI optical recognition of handwritten digits (test set): 8x8 images of pixels 0..16,
 * labels 0..9. Bundled as a resource (see DIGITS-SOURCE.md) so the demo needs no download.
 * Images are kept on the heap, already scaled to [0, 1]; a batch is copied into the model's
 * off-heap input.
 */
public final class DigitsDataset {
    public static final int PIXELS = 64;
    public static final int CLASSES = 10;
    /** Largest pixel value: the images count on-pixels in 4x4 blocks. */
    private static final float MAX_PIXEL = 16f;
    private static final String RESOURCE = "digits.csv.gz";

    private final float[] pixels;
    private final int[] labels;

    private DigitsDataset(float[] pixels, int[] labels) {
        this.pixels = pixels;
        this.labels = labels;
    }

    /** The two halves of a {@link #split}. */
    public record Split(DigitsDataset train, DigitsDataset test) {
    }

    /** All 1,797 images from the bundled resource. */
    public static DigitsDataset load() {
        try (InputStream raw = DigitsDataset.class.getResourceAsStream(RESOURCE)) {
            if (raw == null) {
                throw new IllegalStateException("resource netcl/demo/" + RESOURCE + " is missing from the class path");
            }
            List<String> lines = new BufferedReader(new InputStreamReader(new GZIPInputStream(raw),
                    StandardCharsets.US_ASCII)).lines().toList();
            float[] pixels = new float[lines.size() * PIXELS];
            int[] labels = new int[lines.size()];
            for (int row = 0; row < lines.size(); row++) {
                parseRow(lines.get(row), row + 1, pixels, row * PIXELS, labels, row);
            }
            return new DigitsDataset(pixels, labels);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** A row is 64 pixels and the label, comma-separated integers. */
    private static void parseRow(String line, int lineNumber, float[] pixels, int at, int[] labels, int row) {
        String[] fields = line.split(",");
        if (fields.length != PIXELS + 1) {
            throw new IllegalStateException(RESOURCE + " line " + lineNumber + ": " + fields.length
                    + " fields, expected " + (PIXELS + 1));
        }
        for (int i = 0; i < PIXELS; i++) {
            pixels[at + i] = Integer.parseInt(fields[i].trim()) / MAX_PIXEL;
        }
        int label = Integer.parseInt(fields[PIXELS].trim());
        if (label < 0 || label >= CLASSES) {
            throw new IllegalStateException(RESOURCE + " line " + lineNumber + ": label " + label);
        }
        labels[row] = label;
    }

    public int size() {
        return labels.length;
    }

    public int label(int index) {
        return labels[index];
    }

    /** Copies image {@code index} into {@code target} as {@link #PIXELS} floats from float offset {@code at}. */
    public void copyImage(int index, MemorySegment target, long at) {
        MemorySegment.copy(pixels, index * PIXELS, target, ValueLayout.JAVA_FLOAT, at * Float.BYTES, PIXELS);
    }

    /** A shuffled split with {@code testCount} images held out; the same seed gives the same split. */
    public Split split(int testCount, SplittableRandom random) {
        if (testCount <= 0 || testCount >= size()) {
            throw new IllegalArgumentException("test count " + testCount + " out of 1.." + (size() - 1));
        }
        int[] order = permutation(size(), random);
        return new Split(select(order, testCount, size()), select(order, 0, testCount));
    }

    /** The first {@code count} images: small training runs in tests. */
    public DigitsDataset first(int count) {
        if (count <= 0 || count > size()) {
            throw new IllegalArgumentException("count " + count + " out of 1.." + size());
        }
        return new DigitsDataset(Arrays.copyOf(pixels, count * PIXELS), Arrays.copyOf(labels, count));
    }

    private DigitsDataset select(int[] order, int from, int to) {
        float[] p = new float[(to - from) * PIXELS];
        int[] l = new int[to - from];
        for (int i = from; i < to; i++) {
            System.arraycopy(pixels, order[i] * PIXELS, p, (i - from) * PIXELS, PIXELS);
            l[i - from] = labels[order[i]];
        }
        return new DigitsDataset(p, l);
    }

    /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
    static int[] permutation(int n, SplittableRandom random) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return order;
    }
}

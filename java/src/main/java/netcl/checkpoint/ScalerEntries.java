package netcl.checkpoint;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

import netcl.optim.GradScaler;

/**
 * A {@link GradScaler}'s state in {@code __metadata__} under the keys of PyTorch's
 * {@code GradScaler.state_dict()}, each prefixed with {@code scaler.}: {@code scaler.scale},
 * {@code scaler.growth_factor}, {@code scaler.backoff_factor} (decimal numbers, as Python's
 * {@code repr} of a float or Java's {@code Double.toString} write them), {@code scaler.growth_interval}
 * and {@code scaler._growth_tracker} (decimal integers). A disabled scaler has no state, as in
 * PyTorch, and writes none.
 */
final class ScalerEntries {
    static final String SCALE = "scale";
    static final String GROWTH_FACTOR = "growth_factor";
    static final String BACKOFF_FACTOR = "backoff_factor";
    static final String GROWTH_INTERVAL = "growth_interval";
    static final String GROWTH_TRACKER = "_growth_tracker";

    /** JSON's number syntax: no NaN, Infinity, hex floats or the suffixes Double.parseDouble takes. */
    private static final Pattern DECIMAL = Pattern.compile("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
    private static final Pattern INTEGER = Pattern.compile("0|[1-9][0-9]{0,9}");

    private ScalerEntries() {
    }

    private static String key(String name) {
        return OptimizerEntries.SCALER_PREFIX + name;
    }

    /** The metadata entries that save {@code scaler}'s state (none when it is disabled). */
    static Map<String, String> write(GradScaler scaler) {
        Map<String, String> metadata = new LinkedHashMap<>();
        scaler.stateDict().forEach((name, value) -> metadata.put(key(name), value.toString()));
        return metadata;
    }

    /**
     * The scaler state in {@code metadata}, checked so that {@link GradScaler#loadStateDict} cannot
     * refuse it: all five entries, well formed, with values a scaler accepts.
     */
    static Map<String, Object> read(Path path, Map<String, String> metadata) throws CheckpointException {
        for (String key : metadata.keySet()) {
            if (key.startsWith(OptimizerEntries.SCALER_PREFIX) && !key.equals(key(SCALE))
                    && !key.equals(key(GROWTH_FACTOR)) && !key.equals(key(BACKOFF_FACTOR))
                    && !key.equals(key(GROWTH_INTERVAL)) && !key.equals(key(GROWTH_TRACKER))) {
                throw new CheckpointException(path, "unknown scaler entry '" + key + "' in __metadata__");
            }
        }
        Map<String, Object> state = new LinkedHashMap<>();
        state.put(SCALE, decimal(path, metadata, SCALE));
        state.put(GROWTH_FACTOR, decimal(path, metadata, GROWTH_FACTOR));
        state.put(BACKOFF_FACTOR, decimal(path, metadata, BACKOFF_FACTOR));
        state.put(GROWTH_INTERVAL, integer(path, metadata, GROWTH_INTERVAL));
        state.put(GROWTH_TRACKER, integer(path, metadata, GROWTH_TRACKER));
        try {
            // A scaler of its own checks the values by the same rules, so the caller's stays as it is.
            GradScaler.builder().build().loadStateDict(state);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(path, "invalid scaler state: " + e.getMessage(), e);
        }
        return state;
    }

    private static String required(Path path, Map<String, String> metadata, String name) throws CheckpointException {
        String value = metadata.get(key(name));
        if (value == null) {
            throw new CheckpointException(path, "missing required entry " + key(name)
                    + " in __metadata__ (saved without a GradScaler, or with a disabled one?)");
        }
        return value;
    }

    private static double decimal(Path path, Map<String, String> metadata, String name) throws CheckpointException {
        String value = required(path, metadata, name);
        if (!DECIMAL.matcher(value).matches()) {
            throw new CheckpointException(path, key(name) + " is '" + value + "', not a decimal number");
        }
        return Double.parseDouble(value);
    }

    private static int integer(Path path, Map<String, String> metadata, String name) throws CheckpointException {
        String value = required(path, metadata, name);
        if (!INTEGER.matcher(value).matches() || Long.parseLong(value) > Integer.MAX_VALUE) {
            throw new CheckpointException(path, key(name) + " is '" + value + "', not an integer in 0 .. 2^31 - 1");
        }
        return Integer.parseInt(value);
    }
}

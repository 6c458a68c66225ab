package netcl.demo;

import java.nio.file.Path;
import java.util.function.DoublePredicate;

/**
 * The demo's command line. Parsing never exits or prints, so tests can call it; {@link Demo}
 * turns a {@link BadOptionException} into a message, the usage and exit status 2.
 *
 * @param device   an OpenCL device selector for netcl, or {@code null} for netcl's own choice
 *                 ({@code NETCL_DEVICE}, else the first GPU, accelerator, then CPU)
 * @param help     whether {@code --help} was given; the other fields then hold defaults
 * @param save     where netcl's run saves a checkpoint after every epoch, or {@code null}
 * @param resume   a checkpoint netcl's run continues from, or {@code null}
 * @param amp      mixed precision for netcl's run: bf16 parameters and gradients, loss scaling
 * @param clip     the largest gradient norm netcl's {@code --amp} run clips to, or 0 for none
 */
public record DemoOptions(String device, int epochs, double lr, double alpha, double momentum,
                          boolean centered, long seed, Path out, boolean help, Path save, Path resume,
                          boolean amp, double clip) {

    /** The options without mixed precision. */
    public DemoOptions(String device, int epochs, double lr, double alpha, double momentum, boolean centered,
                       long seed, Path out, boolean help, Path save, Path resume) {
        this(device, epochs, lr, alpha, momentum, centered, seed, out, help, save, resume, false, 0);
    }

    /** PyTorch's default, passed explicitly to both optimizers so they cannot differ. */
    public static final double EPS = 1e-8;
    public static final int DEFAULT_EPOCHS = 20;
    public static final double DEFAULT_LR = 1e-3;
    public static final double DEFAULT_ALPHA = 0.99;
    public static final long DEFAULT_SEED = 42;

    /** Thrown for an argument the demo cannot use; the message is one line for the user. */
    public static final class BadOptionException extends Exception {
        private static final long serialVersionUID = 1L;

        BadOptionException(String message) {
            super(message);
        }
    }

    public static String usage() {
        return """
                usage: scripts/demo [options]
                Trains an MLP (64-128-10) on the UCI handwritten digits with netcl's RMSProp, repeats
                the training with a plain-Java RMSProp, compares them and draws the curves to a PNG.

                  --device SEL     OpenCL device: index ("1"), "platform:device" ("0:1") or part of
                                   its name ("nvidia"); default: $NETCL_DEVICE, else netcl's choice
                  --epochs N       passes over the training set, N >= 1 (default %d)
                  --lr X           learning rate, X > 0 (default %s)
                  --alpha X        smoothing constant of the squared-gradient average, in [0, 1] (default %s)
                  --momentum X     momentum, X >= 0 (default 0)
                  --centered       centered RMSProp (also --centered=true or --centered=false)
                  --seed N         seed of the split, the initial weights and the batch order (default %d)
                  --out DIR        where to write training-curves.png (default %s)
                  --save FILE      save netcl's training state after every epoch (safetensors, atomic)
                  --resume FILE    continue netcl's run from a --save checkpoint (same options, more
                                   --epochs); it goes on bit for bit like an uninterrupted run
                  --amp            mixed precision for netcl's run: bf16 parameters and gradients,
                                   float32 masters in netcl, loss scaling with a GradScaler; the
                                   float32 reference is then compared by test accuracy
                  --clip NORM      with --amp: clip the unscaled gradients' L2 norm to NORM > 0
                  --help           print this help and exit
                """.formatted(DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_ALPHA, DEFAULT_SEED, defaultOut());
    }

    /**
     * The default output folder: build/demo in the netcl checkout when the launcher names it
     * (system property {@code netcl.root}, set by scripts/demo), else ./netcl-demo-out.
     */
    public static Path defaultOut() {
        String root = System.getProperty("netcl.root");
        return root == null || root.isBlank() ? Path.of("netcl-demo-out") : Path.of(root, "build", "demo");
    }

    /** Accepts {@code --name value} and {@code --name=value}. */
    public static DemoOptions parse(String... args) throws BadOptionException {
        String device = null;
        int epochs = DEFAULT_EPOCHS;
        double lr = DEFAULT_LR;
        double alpha = DEFAULT_ALPHA;
        double momentum = 0.0;
        boolean centered = false;
        long seed = DEFAULT_SEED;
        Path out = null;
        Path save = null;
        Path resume = null;
        boolean help = false;
        boolean amp = false;
        double clip = 0;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--")) {
                throw new BadOptionException("unexpected argument '" + arg + "' (options start with --)");
            }
            int equals = arg.indexOf('=');
            String name = equals < 0 ? arg : arg.substring(0, equals);
            String inline = equals < 0 ? null : arg.substring(equals + 1);
            switch (name) {
                case "--help" -> {
                    noValue(name, inline);
                    help = true;
                }
                case "--centered" -> centered = inline == null || parseBoolean(name, inline);
                case "--amp" -> {
                    noValue(name, inline);
                    amp = true;
                }
                case "--device", "--epochs", "--lr", "--alpha", "--momentum", "--seed", "--out", "--save",
                     "--resume", "--clip" -> {
                    String value = inline;
                    if (value == null) {
                        if (i + 1 == args.length) {
                            throw new BadOptionException(name + " needs a value");
                        }
                        value = args[++i];
                    }
                    switch (name) {
                        case "--device" -> device = nonEmpty(name, value);
                        case "--epochs" -> epochs = parseEpochs(value);
                        case "--lr" -> lr = parseDouble(name, value, "a number > 0", x -> x > 0);
                        case "--alpha" -> alpha = parseDouble(name, value, "a number in [0, 1]", x -> x >= 0 && x <= 1);
                        case "--momentum" -> momentum = parseDouble(name, value, "a number >= 0", x -> x >= 0);
                        case "--seed" -> seed = parseSeed(value);
                        case "--save" -> save = Path.of(nonEmpty(name, value));
                        case "--resume" -> resume = Path.of(nonEmpty(name, value));
                        case "--clip" -> clip = parseDouble(name, value, "a number > 0", x -> x > 0);
                        default -> out = Path.of(nonEmpty(name, value));
                    }
                }
                default -> throw new BadOptionException("unknown option '" + name + "'");
            }
        }
        if (clip > 0 && !amp) {
            throw new BadOptionException("--clip needs --amp (the plain-Java reference run does not clip)");
        }
        return new DemoOptions(device, epochs, lr, alpha, momentum, centered, seed,
                out == null ? defaultOut() : out, help, save, resume, amp, clip);
    }

    private static void noValue(String name, String inline) throws BadOptionException {
        if (inline != null) {
            throw new BadOptionException(name + " takes no value");
        }
    }

    private static String nonEmpty(String name, String value) throws BadOptionException {
        if (value.isBlank()) {
            throw new BadOptionException(name + " needs a non-empty value");
        }
        return value;
    }

    private static boolean parseBoolean(String name, String value) throws BadOptionException {
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new BadOptionException(name + " must be true or false, got '" + value + "'");
        };
    }

    private static int parseEpochs(String value) throws BadOptionException {
        try {
            int epochs = Integer.parseInt(value);
            if (epochs >= 1) {
                return epochs;
            }
        } catch (NumberFormatException e) {
            // reported below, with the same message as a value out of range
        }
        throw new BadOptionException("--epochs must be a whole number >= 1, got '" + value + "'");
    }

    private static long parseSeed(String value) throws BadOptionException {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new BadOptionException("--seed must be a whole number, got '" + value + "'");
        }
    }

    private static double parseDouble(String name, String value, String expected, DoublePredicate check)
            throws BadOptionException {
        try {
            double x = Double.parseDouble(value);
            // Double.parseDouble also takes "NaN", "Infinity" and hex floats; only finite values train.
            if (Double.isFinite(x) && check.test(x)) {
                return x;
            }
        } catch (NumberFormatException e) {
            // reported below, with the same message as a value out of range
        }
        throw new BadOptionException(name + " must be " + expected + ", got '" + value + "'");
    }
}

package netcl.demo;

import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;

/**
 * Shows training progress to a person. On a terminal, a bar redrawn in place (carriage return)
 * with the running loss and accuracy, replaced at the end of each epoch by that epoch's line; to
 * a file or a CI log, where carriage returns pile up into one unreadable line, only the epoch
 * lines.
 */
final class ProgressBar implements Trainer.Listener {
    private static final int WIDTH = 30;
    /** Redraws at most this often: a terminal cannot show more, and printing costs time. */
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream out;
    private final boolean inPlace;
    private final int epochs;
    private long lastDraw;
    private int drawnWidth;

    ProgressBar(PrintStream out, boolean inPlace, int epochs) {
        this.out = out;
        this.inPlace = inPlace;
        this.epochs = epochs;
    }

    /**
     * In place only on an interactive terminal, and never under CI (CI=true). Some JDKs return a
     * console for redirected streams too; isTerminal() tells them apart.
     */
    static boolean terminalAttached() {
        Console console = System.console();
        return console != null && console.isTerminal() && !"true".equalsIgnoreCase(System.getenv("CI"));
    }

    @Override
    public void batch(int epoch, int done, int batches, double loss, double accuracy) {
        long now = System.nanoTime();
        if (!inPlace || (done > 1 && done < batches && now - lastDraw < REDRAW_NANOS)) {
            return;
        }
        lastDraw = now;
        int filled = (int) ((long) WIDTH * done / batches);
        String line = String.format(Locale.ROOT, "epoch %s [%s%s] %d/%d  loss %.4f  acc %5.1f%%",
                epochLabel(epoch), "=".repeat(filled), " ".repeat(WIDTH - filled), done, batches, loss,
                100 * accuracy);
        draw(line);
        out.flush();
    }

    @Override
    public void epoch(Trainer.EpochStats s) {
        String line = String.format(Locale.ROOT,
                "epoch %s  loss %.4f  train acc %5.1f%%  test loss %.4f  test acc %5.1f%%  (%.2f s)",
                epochLabel(s.epoch()), s.trainLoss(), 100 * s.trainAccuracy(), s.testLoss(), 100 * s.testAccuracy(),
                s.nanos() / 1e9);
        if (inPlace) {
            draw(line);
            out.println();
            drawnWidth = 0;
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** "3/20", padded to a fixed width so the columns line up. */
    private String epochLabel(int epoch) {
        String total = Integer.toString(epochs);
        return String.format(Locale.ROOT, "%" + total.length() + "d/%s", epoch, total);
    }

    /** Overwrites the current line, blanking what a longer previous drawing left behind. */
    private void draw(String line) {
        out.print("\r" + line + " ".repeat(Math.max(0, drawnWidth - line.length())));
        drawnWidth = line.length();
    }
}

package netcl.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.NumberFormat;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.SeriesRenderingOrder;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Draws the two runs' curves side by side, training loss and test accuracy per epoch, into one
 * PNG. netcl's line is wide and the reference's dashed on top of it, so that curves which agree
 * (they should coincide exactly) both stay visible.
 */
final class TrainingChart {
    static final String FILE_NAME = "training-curves.png";
    private static final int WIDTH = 1000;
    private static final int HEIGHT = 450;
    private static final int TITLE_HEIGHT = 60;
    private static final Color NETCL = new Color(0x1f77b4);
    private static final Color REFERENCE = new Color(0xff7f0e);

    private TrainingChart() {
    }

    /** Writes {@value #FILE_NAME} into {@code dir} (created if missing); returns its path. */
    static Path write(Path dir, String title, String subtitle, Trainer.Result netcl, Trainer.Result reference)
            throws IOException {
        JFreeChart loss = panel("Training loss (cross-entropy)", "loss", netcl, reference, Trainer.EpochStats::trainLoss);
        JFreeChart accuracy = panel("Test accuracy (held-out images)", "accuracy", netcl, reference,
                Trainer.EpochStats::testAccuracy);
        NumberFormat percent = NumberFormat.getPercentInstance(Locale.ROOT);
        // Accuracy ticks can be half a percent apart; whole percents would repeat labels.
        percent.setMaximumFractionDigits(1);
        ((NumberAxis) accuracy.getXYPlot().getRangeAxis()).setNumberFormatOverride(percent);

        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            drawCentered(g, title, new Font(Font.SANS_SERIF, Font.BOLD, 17), 24);
            drawCentered(g, subtitle, new Font(Font.SANS_SERIF, Font.PLAIN, 13), 46);
            loss.draw(g, new Rectangle2D.Double(0, TITLE_HEIGHT, WIDTH / 2.0, HEIGHT - TITLE_HEIGHT));
            accuracy.draw(g, new Rectangle2D.Double(WIDTH / 2.0, TITLE_HEIGHT, WIDTH / 2.0, HEIGHT - TITLE_HEIGHT));
        } finally {
            g.dispose();
        }
        Files.createDirectories(dir);
        Path file = dir.resolve(FILE_NAME);
        try (OutputStream out = Files.newOutputStream(file)) {
            ChartUtils.writeBufferedImageAsPNG(out, image);
        }
        return file;
    }

    /** A line of text centred across the whole image, above both charts. */
    private static void drawCentered(Graphics2D g, String text, Font font, int baseline) {
        g.setFont(font);
        g.setColor(Color.BLACK);
        g.drawString(text, (WIDTH - g.getFontMetrics().stringWidth(text)) / 2, baseline);
    }

    private static JFreeChart panel(String title, String yLabel, Trainer.Result netcl, Trainer.Result reference,
                                    ToDoubleFunction<Trainer.EpochStats> value) {
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(series("netcl RMSProp (OpenCL)", netcl, value));
        data.addSeries(series("plain-Java RMSProp (reference)", reference, value));
        JFreeChart chart = ChartFactory.createXYLineChart(title, "epoch", yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getDomainAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        renderer.setSeriesPaint(0, NETCL);
        renderer.setSeriesStroke(0, new BasicStroke(5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        renderer.setSeriesPaint(1, REFERENCE);
        renderer.setSeriesStroke(1, new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f,
                new float[] {6f, 5f}, 0f));
        plot.setRenderer(renderer);
        // Draw netcl first, so the reference's dashes lie on top of it.
        plot.setSeriesRenderingOrder(SeriesRenderingOrder.FORWARD);
        return chart;
    }

    private static XYSeries series(String name, Trainer.Result run, ToDoubleFunction<Trainer.EpochStats> value) {
        XYSeries series = new XYSeries(name);
        for (Trainer.EpochStats s : run.epochs()) {
            series.add(s.epoch(), value.applyAsDouble(s));
        }
        return series;
    }
}

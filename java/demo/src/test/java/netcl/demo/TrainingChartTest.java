package netcl.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingChartTest {
    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    @Test
    void writesAPng(@TempDir Path dir) throws Exception {
        Trainer.Result netcl = new Trainer.Result(List.of(
                new Trainer.EpochStats(1, 1.2, 0.7, 0.8, 0.85, 1_000_000, 100_000),
                new Trainer.EpochStats(2, 0.5, 0.9, 0.5, 0.90, 1_000_000, 100_000),
                new Trainer.EpochStats(3, 0.3, 0.95, 0.4, 0.93, 1_000_000, 100_000)), 3_000_000, 30);
        Path out = dir.resolve("nested/out");

        Path png = TrainingChart.write(out, "title", "subtitle", netcl, netcl);

        assertEquals(out.resolve(TrainingChart.FILE_NAME), png);
        byte[] bytes = Files.readAllBytes(png);
        assertArrayEquals(PNG_MAGIC, Arrays.copyOf(bytes, PNG_MAGIC.length));
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(1000, image.getWidth());
        assertEquals(450, image.getHeight());
    }
}

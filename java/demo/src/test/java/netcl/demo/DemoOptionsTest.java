package netcl.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DemoOptionsTest {

    @Test
    void defaults() throws Exception {
        DemoOptions o = DemoOptions.parse();
        assertNull(o.device());
        assertEquals(DemoOptions.DEFAULT_EPOCHS, o.epochs());
        assertEquals(1e-3, o.lr());
        assertEquals(0.99, o.alpha());
        assertEquals(0.0, o.momentum());
        assertFalse(o.centered());
        assertEquals(DemoOptions.DEFAULT_SEED, o.seed());
        assertEquals(DemoOptions.defaultOut(), o.out());
        assertFalse(o.help());
    }

    @Test
    void everyOptionInBothForms() throws Exception {
        DemoOptions o = DemoOptions.parse("--device", "0:0", "--epochs=3", "--lr", "5e-4", "--alpha=0.9",
                "--momentum", "0.5", "--centered", "--seed=-12", "--out", "/tmp/x", "--save", "a.st", "--resume=b.st");
        assertEquals(new DemoOptions("0:0", 3, 5e-4, 0.9, 0.5, true, -12, Path.of("/tmp/x"), false, Path.of("a.st"),
                Path.of("b.st")), o);
        assertFalse(o.amp());
        assertEquals(0.0, o.clip());
        DemoOptions amp = DemoOptions.parse("--amp", "--clip", "1.5");
        assertTrue(amp.amp());
        assertEquals(1.5, amp.clip());
        assertEquals(0.25, DemoOptions.parse("--clip=0.25", "--amp").clip());
        assertTrue(DemoOptions.parse("--amp").amp());
        assertEquals(0.0, DemoOptions.parse("--amp").clip(), "no clipping unless asked");
        assertFalse(DemoOptions.parse("--centered", "--centered=false").centered());
        assertTrue(DemoOptions.parse("--centered=true").centered());
    }

    @Test
    void help() throws Exception {
        assertTrue(DemoOptions.parse("--help").help());
        String usage = DemoOptions.usage();
        for (String option : new String[] {"--device", "--epochs", "--lr", "--alpha", "--momentum", "--centered",
                "--seed", "--out", "--save", "--resume", "--amp", "--clip", "--help"}) {
            assertTrue(usage.contains(option), option);
        }
    }

    /** Each bad command line gives one line naming the option and the value. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--frobnicate              | unknown option '--frobnicate'",
        "--lr abc                  | --lr must be a number > 0, got 'abc'",
        "--lr -0.1                 | --lr must be a number > 0, got '-0.1'",
        "--lr NaN                  | --lr must be a number > 0, got 'NaN'",
        "--alpha 1.5               | --alpha must be a number in [0, 1], got '1.5'",
        "--momentum=-1             | --momentum must be a number >= 0, got '-1'",
        "--epochs 0                | --epochs must be a whole number >= 1, got '0'",
        "--epochs 2.5              | --epochs must be a whole number >= 1, got '2.5'",
        "--seed x                  | --seed must be a whole number, got 'x'",
        "--centered=yes            | --centered must be true or false, got 'yes'",
        "--epochs                  | --epochs needs a value",
        "--help=now                | --help takes no value",
        "--amp --clip 0            | --clip must be a number > 0, got '0'",
        "--amp --clip -1           | --clip must be a number > 0, got '-1'",
        "--amp --clip=abc          | --clip must be a number > 0, got 'abc'",
        "--amp --clip Infinity     | --clip must be a number > 0, got 'Infinity'",
        "--amp --clip              | --clip needs a value",
        "--clip 1                  | --clip needs --amp (the plain-Java reference run does not clip)",
        "--amp=yes                 | --amp takes no value",
        "--out=                    | --out needs a non-empty value",
        "train                     | unexpected argument 'train' (options start with --)",
    })
    void badArguments(String args, String message) {
        DemoOptions.BadOptionException e = assertThrows(DemoOptions.BadOptionException.class,
                () -> DemoOptions.parse(args.split(" ")));
        assertEquals(message, e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}

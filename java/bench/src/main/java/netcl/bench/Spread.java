package netcl.bench;

import java.util.Arrays;

/**
 * The median of some measurements and how far they spread: quartiles (linear interpolation
 * between the sorted values, like numpy's default), extremes, and a 95% confidence interval of
 * the median that assumes nothing about the distribution (order statistics: the values of rank
 * n/2 -+ 0.98 sqrt(n), the binomial's normal approximation).
 */
record Spread(double median, double q1, double q3, double min, double max, double ciLow, double ciHigh) {
    static Spread of(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values");
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double reach = 0.98 * Math.sqrt(n);
        int low = Math.max(0, (int) Math.floor(n / 2.0 - reach) - 1);
        int high = Math.min(n - 1, (int) Math.ceil(n / 2.0 + reach));
        return new Spread(quantile(sorted, 0.5), quantile(sorted, 0.25), quantile(sorted, 0.75), sorted[0],
                sorted[n - 1], sorted[low], sorted[high]);
    }

    /** Half the confidence interval's width over the median: 0.03 is "the median within about 3%". */
    double relativeHalfWidth() {
        return (ciHigh - ciLow) / 2 / median;
    }

    private static double quantile(double[] sorted, double fraction) {
        double at = fraction * (sorted.length - 1);
        int below = (int) Math.floor(at);
        int above = Math.min(below + 1, sorted.length - 1);
        return sorted[below] + (at - below) * (sorted[above] - sorted[below]);
    }
}

using System.Globalization;
using System.Text;

namespace RelayAppliance.Server.Sink;

/// <summary>
/// The share of final replies the sink gives after the end of DATA (or BDAT LAST), e.g. "250:90,451:7,550:3".
/// Weights are relative. The reply for message n is a pure function of (seed, n), so a run is reproducible.
/// </summary>
public sealed class ReplyMix
{
    private readonly int[] _codes;
    private readonly long[] _cumulative; // running sum of weights; the last one is the total
    private readonly byte[][] _replies;
    private readonly ulong _seed;

    private ReplyMix(int[] codes, long[] cumulative, ulong seed)
    {
        _codes = codes;
        _cumulative = cumulative;
        _seed = seed;
        _replies = new byte[codes.Length][];
        for (var i = 0; i < codes.Length; i++)
        {
            _replies[i] = Encoding.ASCII.GetBytes(ReplyText(codes[i]));
        }
    }

    /// <summary>Every message gets 250.</summary>
    public static ReplyMix AcceptAll { get; } = new([250], [1], 0);

    public int Count => _codes.Length;
    public int Code(int index) => _codes[index];
    public ReadOnlySpan<byte> Reply(int index) => _replies[index];

    /// <summary>Parses "CODE:WEIGHT[,CODE:WEIGHT…]"; CODE is a 2xx, 4xx or 5xx reply code, WEIGHT ≥ 0, at least one weight &gt; 0.</summary>
    public static bool TryParse(string spec, ulong seed, out ReplyMix? mix, out string error)
    {
        mix = null;
        var codes = new List<int>();
        var cumulative = new List<long>();
        long total = 0;
        foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0
                || !int.TryParse(part.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var code)
                || !int.TryParse(part.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var weight))
            {
                error = $"'{part}' is not CODE:WEIGHT (like 250:90)";
                return false;
            }
            if (code is < 200 or > 599 || code / 100 == 3)
            {
                error = $"reply code {code} is not a 2xx, 4xx or 5xx code";
                return false;
            }
            if (codes.Contains(code))
            {
                error = $"reply code {code} is given twice";
                return false;
            }
            total += weight;
            codes.Add(code);
            cumulative.Add(total);
        }
        if (total <= 0)
        {
            error = "the weights add up to 0";
            return false;
        }
        mix = new ReplyMix([.. codes], [.. cumulative], seed);
        error = "";
        return true;
    }

    /// <summary>The entry for message number <paramref name="message"/> (0, 1, 2, …).</summary>
    public int Pick(long message)
    {
        if (_codes.Length == 1)
        {
            return 0;
        }
        return SeededDraw.Bucket(_seed + (ulong)message, _cumulative);
    }

    // Enhanced status codes (RFC 3463): 2.0.0 accepted, 4.3.0 / 5.3.0 "other mail system" failures, as a test sink would say.
    private static string ReplyText(int code) => (code / 100) switch
    {
        2 => $"{code} 2.0.0 Message accepted (sink)\r\n",
        4 => $"{code} 4.3.0 Temporary failure (sink reply mix)\r\n",
        _ => $"{code} 5.3.0 Message rejected (sink reply mix)\r\n",
    };
}

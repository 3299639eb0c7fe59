using System.Buffers;
using System.Text;

namespace RelayAppliance.Protocol.Tests;

/// <summary>Builds the two buffer shapes every parser test runs on: one segment, and one segment per byte.</summary>
internal static class TestSequences
{
    public static IEnumerable<(string Shape, ReadOnlySequence<byte> Sequence)> Shapes(byte[] data)
    {
        yield return ("one segment", new ReadOnlySequence<byte>(data));
        yield return ("segment per byte", SegmentPerByte(data));
    }

    public static IEnumerable<(string Shape, ReadOnlySequence<byte> Sequence)> Shapes(string text) => Shapes(Bytes(text));

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static ReadOnlySequence<byte> SegmentPerByte(byte[] data)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(data.AsMemory(0, 1), 0);
        Segment last = first;
        for (int i = 1; i < data.Length; i++)
        {
            last = last.Append(data.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

using System.Buffers;

namespace RelayAppliance.Testing;

/// <summary>
/// Multi-segment <see cref="ReadOnlySequence{T}"/> for the slow paths of pipe parsers (a line or reply split over
/// segments). Linked into the test and benchmark projects that need it.
/// </summary>
internal static class BufferSegments
{
    /// <summary>The bytes as segments of <paramref name="segmentSize"/> bytes (1: one segment per byte).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, int segmentSize)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(data.AsMemory(0, Math.Min(segmentSize, data.Length)), 0);
        var last = first;
        for (var offset = segmentSize; offset < data.Length; offset += segmentSize)
        {
            last = last.Append(data.AsMemory(offset, Math.Min(segmentSize, data.Length - offset)));
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
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
